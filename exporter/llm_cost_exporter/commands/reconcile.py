"""`reconcile`: gateway cost from Prometheus against the vendors' cost APIs over complete UTC days."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from ..config import ConfigError, load_config
from ..vendors.reconcile import ReconcileError, compare, day_bounds, format_table, gateway_cost, vendor_cost

EXIT_GAP = 1
EXIT_ERROR = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        help="compare gateway cost in Prometheus with the vendors' cost APIs",
        description="Sum llm_cost_usd_total by provider in Prometheus over the UTC days FROM..TO (both "
        "included), read the same days from every vendor source in the config that has a cost report, and "
        "print provider, gateway USD, vendor USD and gap %. Exit 1 if a gap exceeds --max-gap, 2 on errors.",
    )
    parser.add_argument("--config", required=True, type=Path, help="configuration file with the vendor sources")
    parser.add_argument("--from", dest="first", required=True, type=_date, metavar="DATE",
                        help="first UTC day, YYYY-MM-DD")
    parser.add_argument("--to", dest="last", required=True, type=_date, metavar="DATE",
                        help="last UTC day, YYYY-MM-DD, included; it must have ended")
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090", metavar="URL",
                        help="Prometheus base URL (default: http://127.0.0.1:9090)")
    parser.add_argument("--selector", default='job="llm-cost-exporter"',
                        help='label matchers for llm_cost_usd_total (default: job="llm-cost-exporter")')
    parser.add_argument("--max-gap", type=float, default=5.0, metavar="PERCENT",
                        help="largest accepted gap in percent, either direction (default: 5)")
    parser.add_argument("--source", action="append", metavar="NAME",
                        help="only this vendor source (repeatable; default: every source with a cost report)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return EXIT_ERROR
    sources = [source for source in config.sources if not args.source or source.name in args.source]
    unknown = sorted(set(args.source or []) - {source.name for source in config.sources})
    if unknown:
        print(f"no source named {', '.join(unknown)} in {args.config}", file=sys.stderr)
        return EXIT_ERROR
    today = datetime.now(timezone.utc).date()
    try:
        start, end = day_bounds(args.first, args.last, today)
        vendor = vendor_cost(sources, start, end)
        if not vendor:
            raise ReconcileError(f"{args.config} has no vendor source with a cost report "
                                 "(openai_usage or anthropic_usage with costs: true, aws_cost_explorer)")
        gateway = gateway_cost(args.prometheus, args.selector, start, end)
    except ReconcileError as err:
        print(f"reconcile: {err}", file=sys.stderr)
        return EXIT_ERROR

    rows = compare(gateway, vendor)
    print(f"{args.first} .. {args.last} (UTC, {int((end - start) // 86400)} day(s))")
    print(format_table(rows))
    over = [row for row in rows if row.gap_percent is not None and abs(row.gap_percent) > args.max_gap]
    if over:
        names = ", ".join(row.provider for row in over)
        print(f"gap above {args.max_gap:g}% for: {names}", file=sys.stderr)
        return EXIT_GAP
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r}: write it as YYYY-MM-DD") from None
