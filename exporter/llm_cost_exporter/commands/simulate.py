"""`llm-cost-exporter simulate`: write a realistic gateway log in the native format."""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import signal
import sys
import time
from typing import BinaryIO, Iterator

from ..workloads.generator import WorkloadGenerator
from ..workloads.output import write_events, write_live
from ..workloads.profile import Profile, ProfileError, Seasonality, load_profile
from ..workloads.scenarios import DAY, SCENARIOS
from ..workloads.timestamps import format_rfc3339, parse_rfc3339, start_of_utc_day
from ..workloads.timeline import Timeline
from .arguments import positive

log = logging.getLogger(__name__)

DEFAULT_SCENARIO_DAYS = 30.0
# Requests sampled to estimate lines per request, which sets the live request rate.
LINES_PER_REQUEST_SAMPLE = 2000

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Parse seconds from `90`, `90s`, `15m`, `24h` or `7d`."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}; expected e.g. 90s, 15m, 24h or 7d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _timestamp(text: str) -> float:
    try:
        return parse_rfc3339(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(subparsers) -> None:
    scenario_lines = "\n".join(f"  {s.name:<20}{s.description}" for s in SCENARIOS.values())
    parser = subparsers.add_parser(
        "simulate",
        help="generate a realistic gateway log in the native format",
        description=(
            "Generate a gateway log of model calls, tool calls, retries and request ends from a "
            "workload profile. --events and --days write in event time as fast as possible, and "
            "the output is the same for the same --seed and --start. --rate appends in wall-clock "
            "time with current timestamps until --duration passes or SIGINT or SIGTERM arrives."
        ),
        epilog=f"scenarios (--scenario NAME):\n{scenario_lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--events",
        type=positive(int),
        metavar="N",
        help="write exactly N lines in event time (the last requests may lack their request_end)",
    )
    mode.add_argument(
        "--days", type=positive(float), metavar="D", help="write every request that starts within D days of --start"
    )
    mode.add_argument(
        "--rate", type=positive(float), metavar="R", help="append R lines per second of wall-clock time"
    )
    parser.add_argument(
        "--duration", type=parse_duration, metavar="DURATION", help="with --rate: stop after this long (e.g. 90s, 15m)"
    )

    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    parser.add_argument(
        "--start",
        type=_timestamp,
        metavar="RFC3339",
        help="event time of the first request (default: 00:00 UTC today, or --days before it)",
    )
    parser.add_argument("--profile", metavar="FILE", help="workload profile YAML (default: the built-in profile)")
    parser.add_argument(
        "--request-rate",
        type=positive(float),
        metavar="R",
        help="mean requests per second in event time, replacing the profile's requests_per_second",
    )

    parser.add_argument("--scenario", choices=sorted(SCENARIOS), metavar="NAME", help="add a named failure")
    parser.add_argument(
        "--onset",
        metavar="TIME",
        help="start of the scenario's failure: RFC 3339, or a duration after --start such as 21d "
        "(default: depends on the scenario, mostly the last week)",
    )

    parser.add_argument(
        "--output", metavar="FILE", help="file to write, appended to in live mode (default: standard output)"
    )
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.events is None and args.days is None and args.rate is None:
        if args.scenario is None:
            parser.error("one of --events, --days or --rate is required")
        args.days = DEFAULT_SCENARIO_DAYS
    if args.duration is not None and args.rate is None:
        parser.error("--duration applies only to --rate")
    if args.rate is not None and (args.scenario or args.onset):
        parser.error("--scenario and --onset need --events or --days, because live mode has no event-time plan")
    if args.rate is not None and (args.start is not None or args.request_rate is not None):
        parser.error("--start and --request-rate apply only to --events and --days: --rate uses the current time")
    if args.onset is not None and args.scenario is None:
        parser.error("--onset needs --scenario")
    if args.scenario and args.events is not None and args.onset is None:
        parser.error("--scenario with --events needs --onset, because the default onset is derived from --days")

    try:
        profile = load_profile(args.profile)
    except ProfileError as err:
        log.error("%s", err)
        return 2
    if args.request_rate is not None:
        profile = profile.model_copy(update={"requests_per_second": args.request_rate})

    if args.rate is not None:
        return _run_live(args, profile)
    return _run_batch(args, parser, profile)


def _run_batch(args: argparse.Namespace, parser: argparse.ArgumentParser, profile: Profile) -> int:
    days = args.days
    if args.start is not None:
        start = args.start
    else:
        start = start_of_utc_day(time.time()) - (days * DAY if days else 0.0)
    end = start + days * DAY if days else None

    if args.scenario:
        scenario = SCENARIOS[args.scenario]
        onset = _parse_onset(parser, args.onset, start)
        timeline = scenario.timeline(profile, start, onset, days or DEFAULT_SCENARIO_DAYS)
        log.info("scenario %s starts at %s", scenario.name, format_rfc3339(timeline.onset))
    else:
        timeline = Timeline(profile)

    generator = WorkloadGenerator(timeline, args.seed, start)
    began = time.monotonic()
    try:
        with _open_output(args.output, "wb") as out:
            written = write_events(generator.events(end=end), out, limit=args.events)
    except BrokenPipeError:
        raise
    except OSError as err:
        log.error("failed to write %s: %s", args.output, err.strerror)
        return 1
    log.info("wrote %d lines starting at %s in %.1f s", written, format_rfc3339(start), time.monotonic() - began)
    return 0


def _parse_onset(parser: argparse.ArgumentParser, text: str | None, start: float) -> float | None:
    if text is None:
        return None
    try:
        return start + parse_duration(text)
    except argparse.ArgumentTypeError:
        pass
    try:
        return parse_rfc3339(text)
    except ValueError:
        parser.error(f"--onset: invalid time {text!r}; expected RFC 3339 or a duration after --start such as 21d")


def _run_live(args: argparse.Namespace, profile: Profile) -> int:
    # Requests arrive at the rate that yields about args.rate lines per second, so that
    # requests overlap and caches warm up as they would at that traffic level.
    lines_per_request = _estimate_lines_per_request(profile, args.seed)
    live_profile = profile.model_copy(
        update={
            "requests_per_second": args.rate / lines_per_request,
            "rate_multiplier": 1.0,
            "seasonality": Seasonality(),
        }
    )
    generator = WorkloadGenerator(Timeline(live_profile), args.seed, time.time())

    stop_signals: list[int] = []

    def request_stop(signum, _frame):
        stop_signals.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    log.info(
        "appending %g lines per second to %s%s",
        args.rate,
        args.output or "standard output",
        f" for {args.duration:g} s" if args.duration is not None else " until SIGINT or SIGTERM",
    )
    try:
        with _open_output(args.output, "ab") as out:
            written = write_live(
                generator.events(), out, args.rate, args.duration, should_stop=lambda: bool(stop_signals)
            )
    except BrokenPipeError:
        raise
    except OSError as err:
        log.error("failed to write %s: %s", args.output, err.strerror)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    reason = signal.Signals(stop_signals[0]).name if stop_signals else "--duration reached"
    log.info("stopped (%s) after writing %d lines", reason, written)
    return 0


def _estimate_lines_per_request(profile: Profile, seed: int) -> float:
    generator = WorkloadGenerator(Timeline(profile), seed, 0.0)
    lines = 0
    for _ in _take_requests(generator, LINES_PER_REQUEST_SAMPLE):
        lines += 1
    return max(1.0, lines / max(1, generator.requests))


def _take_requests(generator: WorkloadGenerator, requests: int) -> Iterator:
    for event in generator.events():
        if generator.requests >= requests:
            return
        yield event


@contextlib.contextmanager
def _open_output(path: str | None, mode: str) -> Iterator[BinaryIO]:
    if path is None:
        yield sys.stdout.buffer
        return
    with open(path, mode) as out:
        yield out
