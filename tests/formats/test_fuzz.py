"""Random bytes, truncated JSON, wrong types and 10 MB lines into every format: counted, never fatal."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import orjson
import pytest

from llm_cost_exporter.aggregation import Aggregator
from llm_cost_exporter.config import parse_config
from llm_cost_exporter.formats import FORMATS, REJECT_REASONS, make_parser
from llm_cost_exporter.ingest import RecordIngestor

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "formats"
NATIVE_SAMPLE = (b'{"ts": "2026-01-05T00:00:00Z", "kind": "model", "provider": "openai", "model": "gpt-4o", '
                 b'"input_tokens": 10, "output_tokens": 2, "feature": "search", "request_id": "r1"}')
WRONG_VALUES = [None, True, -1, 1.5, 1e300, -1e300, "", "x" * 50, "12", "-3", [], [1, "a"], {}, {"a": {"b": None}},
                10**30, "\u00b2", float("inf")]
TEN_MB = 10 << 20


def samples(name: str) -> list[bytes]:
    if name == "native":
        return [NATIVE_SAMPLE]
    return (FIXTURES / f"{name}.jsonl").read_bytes().splitlines()


def random_bytes(rng: random.Random, count: int) -> list[bytes]:
    return [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))) for _ in range(count)]


def truncated(rng: random.Random, lines: list[bytes], count: int) -> list[bytes]:
    result = []
    for _ in range(count):
        line = rng.choice(lines)
        result.append(line[: rng.randint(0, len(line) - 1)])
    return result


def leaf_paths(value, prefix=()):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield prefix + (key,)
            yield from leaf_paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield prefix + (index,)
            yield from leaf_paths(inner, prefix + (index,))


def with_wrong_types(rng: random.Random, lines: list[bytes], count: int) -> list[bytes]:
    """Replace one to three values anywhere in a valid record with a value of another type."""
    result = []
    for _ in range(count):
        record = orjson.loads(rng.choice(lines))
        for _ in range(rng.randint(1, 3)):
            paths = list(leaf_paths(record))
            if not paths:
                break
            *parents, last = rng.choice(paths)
            target = record
            for part in parents:
                target = target[part]
            target[last] = copy.deepcopy(rng.choice(WRONG_VALUES))
        # The standard library, unlike orjson, writes infinities and integers beyond 64 bits.
        result.append(json.dumps(record).encode())
    return result


def run_ingestor(name: str, records: list[bytes]) -> Aggregator:
    config = parse_config("{}")
    aggregator = Aggregator(config)
    ingestor = RecordIngestor("fuzz", make_parser(name, config.labels.attribution), aggregator)
    ingestor.ingest(records)
    return aggregator


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_garbage_is_counted_by_reason(name):
    rng = random.Random(f"fuzz-{name}")
    lines = samples(name)
    records = (random_bytes(rng, 150) + truncated(rng, lines, 150) + with_wrong_types(rng, lines, 300)
               + [b"[]", b"null", b'"text"', b"{}", b"{" * 5000, b"\xff\xfe{}"])
    aggregator = run_ingestor(name, records)

    accepted = aggregator.events.get(("fuzz", "accepted"), 0.0)
    rejected = aggregator.events.get(("fuzz", "rejected"), 0.0)
    assert accepted + rejected == len(records)
    assert rejected > len(records) / 3
    by_reason = {reason: count for (source, reason), count in aggregator.rejected.items()}
    assert sum(by_reason.values()) == rejected
    assert set(by_reason) <= set(REJECT_REASONS)
    assert by_reason.get("invalid_json", 0) >= 150


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_ten_megabyte_lines(name):
    padded = samples(name)[0][:-1] + b', "padding": "' + b"x" * TEN_MB + b'"}'
    garbage = b"x" * TEN_MB
    aggregator = run_ingestor(name, [padded, garbage, samples(name)[0]])
    assert {key: count for key, count in aggregator.rejected.items() if count} == {("fuzz", "oversized_line"): 2.0}
    assert aggregator.events[("fuzz", "accepted")] == 1.0


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_ten_megabyte_record_parses_without_limit(name):
    padded = samples(name)[0][:-1] + b', "padding": "' + b"x" * TEN_MB + b'"}'
    parser = make_parser(name, ["feature"])
    assert parser.parse(padded) == parser.parse(samples(name)[0])
