"""`llm-cost-exporter import-trace`: turn a public production trace into native log lines."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path
from typing import BinaryIO, Iterator

from genai_prices import Usage, calc_price

from ..workloads.timestamps import parse_rfc3339_micros
from ..workloads.traces import ImportStats, TraceError, convert_azure, convert_mooncake, write_records
from .simulate import parse_duration

log = logging.getLogger(__name__)

FORMATS = ("mooncake", "azure-llm-2023")
DEFAULT_CACHE_TTL_SECONDS = 300.0
DEFAULT_BLOCK_SIZE = 512


def _start_micros(text: str) -> int:
    try:
        return parse_rfc3339_micros(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _block_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of tokens, got {text!r}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "import-trace",
        help="turn a public production LLM trace into native gateway log lines",
        description=(
            "Convert a production trace into native log lines, one model call per row, each its "
            "own request, in file order. Rows with invalid values are skipped and counted on "
            "standard error; the exit code is 1 only when no row was valid."
        ),
        epilog=(
            "formats:\n"
            "  mooncake        JSON lines with timestamp (ms from the start), input_length, output_length\n"
            "                  and hash_ids; needs --start. ts = start + timestamp / 1000. A hash id is live\n"
            "                  if last used at most --cache-ttl seconds before the row; cache_read_tokens =\n"
            "                  --block-size x leading live ids, capped at input_length.\n"
            "  azure-llm-2023  CSV with TIMESTAMP (UTC), ContextTokens, GeneratedTokens. ts = TIMESTAMP,\n"
            "                  shifted so the first valid row is at --start when given."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--format", required=True, choices=FORMATS, help="trace format")
    parser.add_argument("--provider", required=True, help="provider to write on every call, e.g. openai")
    parser.add_argument("--model", required=True, help="model to write on every call, e.g. gpt-4o")
    parser.add_argument("--feature", default="", help="feature attribution of every call (default: none)")
    parser.add_argument(
        "--start",
        type=_start_micros,
        metavar="RFC3339",
        help="time of the trace's first row (required for mooncake; optional for azure-llm-2023)",
    )
    parser.add_argument(
        "--cache-ttl",
        type=parse_duration,
        metavar="SECONDS",
        help=f"mooncake: seconds a prefix block stays cached after its last use (default: {DEFAULT_CACHE_TTL_SECONDS:g})",
    )
    parser.add_argument(
        "--block-size",
        type=_block_size,
        metavar="TOKENS",
        help=f"mooncake: tokens per prefix block (default: {DEFAULT_BLOCK_SIZE})",
    )
    parser.add_argument("--output", metavar="FILE", help="file to write (default: standard output)")
    parser.add_argument("trace", metavar="TRACE", help="trace file, or - for standard input")
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.format == "mooncake":
        if args.start is None:
            parser.error("--format mooncake needs --start, because its timestamps are offsets from the trace start")
    elif args.cache_ttl is not None or args.block_size is not None:
        parser.error("--cache-ttl and --block-size apply only to --format mooncake")
    _warn_if_unpriced(args.provider, args.model)

    stats = ImportStats()
    try:
        with _open_trace(args.trace) as trace, _open_output(args.output) as out:
            write_records(_convert(args, trace, stats), out)
    except TraceError as err:
        log.error("failed to import %s: %s", args.trace, err)
        return 1
    except BrokenPipeError:
        raise
    except OSError as err:
        log.error("failed to import %s: %s: %s", args.trace, err.filename or args.output, err.strerror)
        return 1

    if stats.skipped:
        log.warning(
            "skipped %d of %d rows of %s with invalid values (first at %s)",
            stats.skipped,
            stats.rows,
            args.trace,
            stats.first_problem,
        )
    if stats.written == 0:
        log.error("no valid rows in %s: check that --format %s matches the file", args.trace, args.format)
        return 1
    log.info("wrote %d lines from %s", stats.written, args.trace)
    return 0


def _convert(args: argparse.Namespace, trace: BinaryIO, stats: ImportStats) -> Iterator[dict]:
    id_prefix = args.format if args.trace == "-" else Path(args.trace).stem
    if args.format == "mooncake":
        return convert_mooncake(
            trace,
            stats,
            start_micros=args.start,
            provider=args.provider,
            model=args.model,
            feature=args.feature,
            cache_ttl=DEFAULT_CACHE_TTL_SECONDS if args.cache_ttl is None else args.cache_ttl,
            block_size=DEFAULT_BLOCK_SIZE if args.block_size is None else args.block_size,
            id_prefix=id_prefix,
        )
    text = (line.decode("utf-8", errors="replace") for line in trace)
    return convert_azure(
        text,
        stats,
        provider=args.provider,
        model=args.model,
        feature=args.feature,
        start_micros=args.start,
        id_prefix=id_prefix,
    )


def _warn_if_unpriced(provider: str, model: str) -> None:
    try:
        calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=model, provider_id=provider)
    except LookupError:
        log.warning(
            "genai-prices has no price for provider %r model %r. The exporter counts its tokens as "
            "unpriced unless the config has a pricing override or alias for it",
            provider,
            model,
        )


@contextlib.contextmanager
def _open_trace(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb") as trace:
        yield trace


@contextlib.contextmanager
def _open_output(path: str | None) -> Iterator[BinaryIO]:
    if path is None:
        yield sys.stdout.buffer
        return
    with open(path, "wb") as out:
        yield out
