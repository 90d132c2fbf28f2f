"""`serve`: run the exporter."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import ConfigError, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the exporter",
                                   description="Read the configured sources and serve /metrics, /healthz and /readyz.")
    parser.add_argument("--config", required=True, type=Path, help="configuration file (YAML)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..service import serve

    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    from ..state import StateError

    try:
        return serve(config)
    except (OSError, StateError) as err:
        print(f"cannot start: {err}", file=sys.stderr)
        return 1
