"""`check-config`: validate a configuration file and print every error with its key path."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..config import ConfigError, load_config
from ..formats import FORMATS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check-config", help="validate a configuration file",
                                   description="Validate FILE; print each error as `key.path: message` and exit 1.")
    parser.add_argument("file", type=Path, metavar="FILE", help="configuration file (YAML)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    problems = [f"sources[{index}].format: unknown format {source.format!r}; use one of: {', '.join(sorted(FORMATS))}"
                for index, source in enumerate(config.sources) if source.format not in FORMATS]
    problems += _file_problems(config)
    if problems:
        print(f"invalid configuration in {args.file}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"{args.file}: valid ({len(config.sources)} source(s), {len(config.budgets)} budget(s))")
    if not config.sources:
        print("warning: no sources are configured, so serve will expose only its own metrics", file=sys.stderr)
    for warning in _path_warnings(config):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _path_warnings(config) -> list[str]:
    """Return a warning for each file source whose path or glob matches no file now.

    Such a path is often a typo or a volume that is not mounted.
    """
    from ..sources.file import matching_paths

    warnings = []
    for index, source in enumerate(config.sources):
        pattern = getattr(source, "path", None) if source.type == "file" else None
        if pattern and not any(os.path.isfile(path) for path in matching_paths(pattern)):
            warnings.append(f"sources[{index}].path: no file matches {pattern} yet; serve reads it once it appears")
    return warnings


def _file_problems(config) -> list[str]:
    """Read the files the config names (web configuration, breaker tokens) as serve would."""
    from ..exposition.server import read_token
    from ..exposition.web_config import WebConfigError, load_web_config

    checks = []
    if config.server.web_config_file:
        checks.append(("server.web_config_file", lambda: load_web_config(config.server.web_config_file)))
    breaker = getattr(config, "breaker", None)
    if breaker is not None and breaker.enabled:
        checks.append(("breaker.webhook_token_file", lambda: read_token(breaker.webhook_token_file)))
        checks.append(("breaker.gateway_token_file", lambda: read_token(breaker.gateway_token_file)))
        if breaker.web_config_file:
            checks.append(("breaker.web_config_file",
                           lambda: load_web_config(breaker.web_config_file, allow_basic_auth=False)))
    problems = []
    for key, check in checks:
        try:
            check()
        except WebConfigError as err:
            problems.append(f"{key}: {err}")
    return problems
