"""`llm-cost-exporter dashboards`: generate the Grafana dashboards, write their JSON, optionally push them."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ..dashboards.generate import DashboardSourceError, generate, render_configmap, render_json, write_json
from ..dashboards.push import GrafanaClient, GrafanaError, check_url, git_version, push_dashboards, read_token

log = logging.getLogger(__name__)

DEFAULT_SOURCE = "dashboards"
DEFAULT_VALUES = "alert_rules/values.yaml"
DEFAULT_CONFIGMAP = "deploy/kubernetes/base/dashboards-configmap.yaml"
DEFAULT_FOLDER = "LLM cost"
DEFAULT_FOLDER_UID = "llm-cost"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboards",
        help="generate the Grafana dashboards and optionally push them to Grafana",
        description=(
            "Build the dashboards of dashboards/*.dashboard.py with the windows and thresholds of the alert "
            "rules' values file, write one JSON file per dashboard and the sidecar ConfigMap, and with --push "
            "create or update them in Grafana. Paths are relative to the current directory (the repository root)."
        ),
    )

    # What to generate, from what
    parser.add_argument("--output", default="build/dashboards", metavar="DIR",
                        help="directory for the <uid>.json files (default: build/dashboards)")
    parser.add_argument("--source", default=DEFAULT_SOURCE, metavar="DIR",
                        help=f"directory of the *.dashboard.py sources (default: {DEFAULT_SOURCE})")
    parser.add_argument("--values", default=DEFAULT_VALUES, metavar="FILE",
                        help=f"alert rules' values file with selectors and thresholds (default: {DEFAULT_VALUES})")
    parser.add_argument("--configmap", default=DEFAULT_CONFIGMAP, metavar="FILE",
                        help=f"ConfigMap for Grafana's dashboard sidecar (default: {DEFAULT_CONFIGMAP})")
    parser.add_argument("--no-configmap", dest="configmap", action="store_const", const=None,
                        help="do not write the ConfigMap")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a file in --output or the ConfigMap differs from "
                             "what would be generated")

    # Pushing to Grafana
    parser.add_argument("--push", action="store_true",
                        help="also create or update the dashboards in Grafana (needs GRAFANA_URL and a token)")
    parser.add_argument("--grafana-url", default=os.environ.get("GRAFANA_URL", ""), metavar="URL",
                        help="Grafana root URL (default: $GRAFANA_URL)")
    parser.add_argument("--token-file", default=os.environ.get("GRAFANA_TOKEN_FILE", ""), metavar="FILE",
                        help="file containing the service account token, used when $GRAFANA_TOKEN is unset "
                             "(default: $GRAFANA_TOKEN_FILE)")
    parser.add_argument("--folder", default=DEFAULT_FOLDER, metavar="TITLE",
                        help=f"title of the Grafana folder, created when missing (default: {DEFAULT_FOLDER!r}); "
                             "also the folder annotation of the ConfigMap")
    parser.add_argument("--folder-uid", default=DEFAULT_FOLDER_UID, metavar="UID",
                        help=f"uid of the Grafana folder (default: {DEFAULT_FOLDER_UID})")
    parser.add_argument("--message", default=None,
                        help="version message saved with each dashboard (default: the git version of the tree)")
    parser.add_argument("--timeout", type=float, default=15.0, metavar="SECONDS",
                        help="timeout of each Grafana API call in seconds (default: 15)")

    parser.set_defaults(handler=run)


def _check(expected: dict[Path, str], regenerate: str) -> int:
    stale = [path for path, text in expected.items() if not path.is_file() or path.read_text() != text]
    for path in stale:
        print(f"stale: {path}", file=sys.stderr)
    if stale:
        print(f"regenerate with `{regenerate}`, review the diff and commit it", file=sys.stderr)
        return 1
    print(f"up to date: {len(expected)} files")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        dashboards = generate(args.source, args.values)
    except (DashboardSourceError, ValueError) as err:
        log.error("cannot generate the dashboards: %s", err)
        return 1

    output_dir = Path(args.output)
    if args.check:
        expected = {output_dir / d.filename: render_json(d.data) for d in dashboards}
        if args.configmap:
            expected[Path(args.configmap)] = render_configmap(dashboards, args.folder)
        return _check(expected, f"llm-cost-exporter dashboards --output {output_dir}")

    for path in write_json(dashboards, output_dir):
        print(f"wrote {path}")
    if args.configmap:
        configmap = Path(args.configmap)
        configmap.parent.mkdir(parents=True, exist_ok=True)
        text = render_configmap(dashboards, args.folder)
        if not configmap.is_file() or configmap.read_text() != text:
            configmap.write_text(text)
        print(f"wrote {configmap}")

    if not args.push:
        return 0
    try:
        check_url(args.grafana_url)
        token = read_token(os.environ.get("GRAFANA_TOKEN"), args.token_file)
        client = GrafanaClient(args.grafana_url, token, timeout=args.timeout)
        message = args.message or f"llm-cost-exporter dashboards, git {git_version()}"
        results = push_dashboards(client, [d.data for d in dashboards], args.folder, args.folder_uid, message)
    except GrafanaError as err:
        log.error("push failed: %s", err)
        return 1
    for result in results:
        print(f"{result.status}: {result.uid} (version {result.version}) {client.base_url}{result.url}")
    return 0
