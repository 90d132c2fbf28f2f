"""`llm-cost-exporter rules`: render alert_rules/ into the rule file and the PrometheusRule."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import yaml

from ..rules import PROMETHEUS_RULE_FILE, RULES_FILE, RenderError, ValuesError, render

log = logging.getLogger(__name__)

DEFAULT_TEMPLATES = Path("alert_rules/templates")
DEFAULT_VALUES = Path("alert_rules/values.yaml")
DEFAULT_OUTPUT_DIR = Path("alert_rules/rendered")
DEFAULT_PROMETHEUS_RULE = Path("deploy/kubernetes/base") / PROMETHEUS_RULE_FILE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="render the alert rules from alert_rules/",
        description=(
            "Render alert_rules/templates with alert_rules/values.yaml into a Prometheus rule "
            "file and a PrometheusRule resource. Paths are relative to the working directory, "
            "which is the repository root for the defaults."
        ),
    )
    parser.add_argument("--templates", type=Path, default=DEFAULT_TEMPLATES,
                        help=f"folder of *.yml.j2 rule templates (default: {DEFAULT_TEMPLATES})")
    parser.add_argument("--values", type=Path, default=DEFAULT_VALUES,
                        help=f"values file with every threshold and window (default: {DEFAULT_VALUES})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                        help="override one value, e.g. alerts.LLMSpendBurnRateHigh.long_window=2m; "
                             "VALUE is parsed as YAML; repeatable")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR,
                        help=f"folder for {RULES_FILE} (default: {DEFAULT_OUTPUT_DIR})")
    parser.add_argument("--prometheus-rule", type=_optional_path, default=DEFAULT_PROMETHEUS_RULE,
                        help=f"path of the PrometheusRule resource (default: {DEFAULT_PROMETHEUS_RULE}); "
                             "an empty string skips it")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when the files on disk differ from a fresh render")
    parser.set_defaults(handler=run)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Turn `a.b.c=VALUE` items into a nested mapping, parsing each VALUE as YAML."""
    overrides: dict[str, Any] = {}
    for item in items:
        path, sep, text = item.partition("=")
        if not sep or not path:
            raise ValuesError(f"invalid --set {item!r}: expected PATH=VALUE")
        node = overrides
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(text)
    return overrides


def run(args: argparse.Namespace) -> int:
    try:
        rendered = render(args.templates, args.values, parse_overrides(args.overrides))
    except (ValuesError, RenderError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    outputs = [(args.output_dir / RULES_FILE, rendered.rules_text)]
    if args.prometheus_rule is not None:
        outputs.append((args.prometheus_rule, rendered.prometheus_rule_text))

    if args.check:
        stale = [path for path, text in outputs if not path.is_file() or path.read_text(encoding="utf-8") != text]
        for path in stale:
            print(f"stale: {path} differs from a fresh render; run `llm-cost-exporter rules` and commit it",
                  file=sys.stderr)
        return 1 if stale else 0

    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        log.info("wrote %s", path)
    names = rendered.alert_names()
    log.info("rendered %d groups with %d alerts", len(rendered.groups), len(names))
    return 0


def _optional_path(value: str) -> Path | None:
    """Parse a path option where an empty string means "do not write this file"."""
    return Path(value) if value else None
