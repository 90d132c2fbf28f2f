"""`backtest`: replay failure scenarios through the alert rules and report when each alert fires."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from ..backtest.prometheus import BacktestToolError
from ..backtest.report import markdown_table, write_chart, write_report
from ..backtest.rules import load_rules, parse_prometheus_duration
from ..backtest.run import Settings, run_scenarios
from ..backtest.scenarios import SCENARIOS
from ..workloads.profile import ProfileError, load_profile
from ..workloads.timestamps import parse_rfc3339
from .arguments import positive

log = logging.getLogger(__name__)

DEFAULT_RULES = Path("alert_rules/rendered/llm-cost.rules.yml")
DEFAULT_OUTPUT = Path("build/backtest")


def _duration(text: str) -> float:
    try:
        return parse_prometheus_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(subparsers) -> None:
    scenario_lines = "\n".join(f"  {s.name:<20}{s.description}" for s in SCENARIOS.values())
    parser = subparsers.add_parser(
        "backtest",
        help="replay cost failure scenarios through the alert rules and measure when alerts fire",
        description=(
            "Simulate each scenario (a month after a warm-up, with one failure at a known onset), replay it "
            "through the exporter's aggregator with a scrape every --step seconds of event time, backfill the "
            "samples into a Prometheus TSDB with promtool, evaluate the rules over the whole period with "
            "Prometheus' query engine and write results.md, results.json and one PNG chart per scenario. "
            "Needs prometheus and promtool on PATH."
        ),
        epilog=f"scenarios (--scenario NAME; all of them by default):\n{scenario_lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), metavar="NAME",
                        help="scenario to run; repeat for several (default: all)")
    parser.add_argument("--rules", type=Path, default=DEFAULT_RULES,
                        help=f"rendered rule file to evaluate (default: {DEFAULT_RULES})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"folder for results.md, results.json and charts (default: {DEFAULT_OUTPUT})")

    defaults = Settings()
    parser.add_argument("--request-rate", type=positive(float), default=defaults.request_rate, metavar="R",
                        help=f"mean requests per second before seasonality and growth (default: {defaults.request_rate:g})")
    parser.add_argument("--step", type=positive(float), default=defaults.step, metavar="SECONDS",
                        help=f"seconds of event time between scrapes, at most 300 (default: {defaults.step:g})")
    parser.add_argument("--days", type=positive(float), default=defaults.days,
                        help=f"length of the evaluated period in days (default: {defaults.days:g})")
    parser.add_argument("--warmup-days", type=float, default=defaults.warmup_days, metavar="DAYS",
                        help=f"days of traffic before the evaluated period (default: {defaults.warmup_days:g})")
    parser.add_argument("--month-start", type=parse_rfc3339, default=defaults.month_start, metavar="RFC3339",
                        help="start of the evaluated period (default: 2026-03-01T00:00:00Z, a Sunday; "
                             "scenario onsets are placed relative to it)")
    parser.add_argument("--onset", type=_duration, metavar="DURATION",
                        help="onset of every scenario's failure as a time after --month-start, such as 2d or 36h "
                             "(default: each scenario's own onset, between day 16 and day 26)")
    parser.add_argument("--profile", metavar="FILE",
                        help="workload profile YAML, as for simulate (default: the built-in profile)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default: 1)")
    parser.add_argument("--budget-usd", type=positive(float), metavar="USD",
                        help="monthly budget over all spend (default: 72000 USD times --request-rate)")

    parser.add_argument("--jobs", type=positive(int), default=1,
                        help="processes that replay or evaluate scenarios at once, each with its own "
                             "Prometheus (default: 1; use 2 on a 2-core machine)")
    parser.add_argument("--keep-tsdb", action="store_true", help="keep each scenario's TSDB under OUTPUT/work")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts (they need matplotlib)")
    parser.add_argument("--check", action="store_true",
                        help="exit with code 1 when a scenario misses its acceptance criterion")
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    if args.step > 300:
        args.parser.error("--step must be at most 300 s, because Prometheus looks back only 5 minutes for a sample")
    if args.rules == DEFAULT_RULES:
        _warn_if_stale(args.rules)
    try:
        ruleset = load_rules(args.rules)
    except OSError as err:
        log.error("cannot read the rule file %s: %s; render it with `llm-cost-exporter rules`", args.rules,
                  err.strerror)
        return 2

    settings = Settings(month_start=args.month_start, days=args.days, warmup_days=args.warmup_days,
                        request_rate=args.request_rate, step=args.step, seed=args.seed, budget_usd=args.budget_usd,
                        onset_offset=args.onset)
    try:
        profile = load_profile(args.profile)
    except ProfileError as err:
        log.error("%s", err)
        return 2
    names = args.scenario or list(SCENARIOS)
    began = time.monotonic()
    try:
        results = run_scenarios(names, ruleset, args.output / "work", settings, args.jobs, profile=profile,
                                keep_tsdb=args.keep_tsdb)
    except BacktestToolError as err:
        log.error("%s", err)
        return 1
    except ValueError as err:
        log.error("%s", err)
        return 2
    elapsed = time.monotonic() - began

    for name in ["results.md", "results.json", *(f"{scenario}.png" for scenario in SCENARIOS)]:
        (args.output / name).unlink(missing_ok=True)  # a partial run must not leave an earlier run's files
    write_report(results, args.output, elapsed)
    if not args.no_charts:
        for result in results:
            write_chart(result, args.output / f"{result.scenario.name}.png")
    print(markdown_table(results))
    print(f"\n{len(results)} scenario(s) in {elapsed:.0f} s; results in {args.output}/results.md")
    missed = [result.scenario.name for result in results if not result.verdict()[0]]
    if missed:
        log.warning("acceptance not met: %s", ", ".join(missed))
    return 1 if args.check and missed else 0


def _warn_if_stale(rules: Path) -> None:
    """Warn when the rendered rule file differs from a fresh render of alert_rules/ (values edited, not rendered)."""
    from ..rules import RenderError, ValuesError, render
    from .rules import DEFAULT_TEMPLATES, DEFAULT_VALUES

    if not (DEFAULT_TEMPLATES.is_dir() and DEFAULT_VALUES.is_file() and rules.is_file()):
        return
    try:
        fresh = render(DEFAULT_TEMPLATES, DEFAULT_VALUES, {}).rules_text
    except (ValuesError, RenderError) as err:
        log.warning("cannot render %s to compare with %s: %s", DEFAULT_TEMPLATES, rules, err)
        return
    if rules.read_text(encoding="utf-8") != fresh:
        log.warning("%s differs from a fresh render of %s and the templates, and the backtest evaluates the "
                    "rendered file; run `llm-cost-exporter rules` (make rules) first to test the edited values",
                    rules, DEFAULT_VALUES)
