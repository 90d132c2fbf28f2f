"""Command-line entry point: `llm-cost-exporter VERB ...`.

Each verb lives in its own module under `commands/` and exposes `register(subparsers)`,
which adds its parser and sets `handler` to a function that takes the parsed arguments
and returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__

VERB_MODULES = (
    "serve",
    "replay",
    "check_config",
    "simulate",
    "import_trace",
    "rules",
    "dashboards",
    "backtest",
    "reconcile",
)

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-cost-exporter",
        description="Prometheus exporter for LLM token cost.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="minimum level of log messages written to standard error (default: INFO)",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    for name in VERB_MODULES:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as err:
            if err.name != f"{__package__}.commands.{name}":
                raise
            continue  # verb not built yet
        module.register(subparsers)
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
