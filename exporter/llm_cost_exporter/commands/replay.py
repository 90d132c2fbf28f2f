"""`replay`: ingest finished log files once and print the final exposition."""

from __future__ import annotations

import argparse
import gzip
import logging
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from ..aggregation import Aggregator, SnapshotBuilder
from ..config import ConfigError, load_config
from ..exposition import CostCollector
from ..formats import FORMATS, make_parser
from ..gctune import tune_for_ingestion
from ..ingest import RecordIngestor
from ..pseudonym import Pseudonymizer

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="ingest finished log files and print the final exposition",
        description="Read each LOG from its first byte to its end, close every open request, "
        "and write the resulting metrics in the Prometheus text format. The config's sources are ignored.",
    )
    parser.add_argument("--config", required=True, type=Path, help="configuration file (YAML)")
    parser.add_argument("--format", default="native", choices=sorted(FORMATS), help="log format (default: native)")
    parser.add_argument("--output", type=Path, help="write the exposition here instead of standard output")
    parser.add_argument("--source-name", default="replay", help="value of the source label (default: replay)")
    parser.add_argument("logs", nargs="+", type=Path, metavar="LOG", help="log file to read")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2

    tune_for_ingestion()
    aggregator = Aggregator(config)
    parser = make_parser(args.format, config.labels.attribution)
    ingestor = RecordIngestor(args.source_name, parser, aggregator)
    for path in args.logs:
        try:
            read_log(path, ingestor)
        except (OSError, EOFError) as err:
            print(f"cannot read {path}: {getattr(err, 'strerror', None) or err}", file=sys.stderr)
            return 1
    aggregator.flush()
    aggregator.advance()

    pseudonymizer = Pseudonymizer.from_env(config.cohorts.pseudonymize_key_env)
    snapshot = SnapshotBuilder(pseudonymizer.pseudonym).build(aggregator)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CostCollector(lambda: snapshot))
    exposition = generate_latest(registry)
    if args.output:
        args.output.write_bytes(exposition)
    else:
        sys.stdout.buffer.write(exposition)
    return 0


GZIP_MAGIC = b"\x1f\x8b"


def read_log(path: Path, ingestor: RecordIngestor) -> None:
    """Ingest every complete line of `path`, gzip-compressed or not; a last line without a
    newline counts too."""
    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    with (gzip.open if compressed else open)(path, "rb") as stream:
        remainder = b""
        next_line = 1
        while chunk := stream.read(READ_CHUNK):
            lines = (remainder + chunk).split(b"\n")
            remainder = lines.pop()
            numbered = [(number, line) for number, line in enumerate(lines, next_line) if line.strip()]
            next_line += len(lines)
            ingestor.ingest([line for _, line in numbered], path.name, [number for number, _ in numbered])
        if remainder.strip():
            ingestor.ingest([remainder], path.name, [next_line])
