"""Conversion of public production LLM traces into native gateway log records.

Supported traces:

- Mooncake (kvcache-ai/Mooncake, FAST'25 release): JSON lines with `timestamp`
  (milliseconds from the trace start), `input_length`, `output_length` and `hash_ids`,
  the ids of the prompt's prefix blocks, where equal ids mark reusable cache blocks.
- Azure LLM inference trace 2023 (Azure Public Dataset, Splitwise paper): CSV with
  `TIMESTAMP` (UTC), `ContextTokens` and `GeneratedTokens`.

Every row becomes one model call that is a request of its own, in file order. Rows with
invalid values are skipped and counted in `ImportStats`, and conversion goes on.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO, Iterable, Iterator

import orjson

from .timestamps import MICROS, format_micros

AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
# "2023-11-16 18:17:03.9799600": the trace has 7 fractional digits (100 ns).
_AZURE_TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?$")


class TraceError(ValueError):
    """The trace as a whole cannot be read, e.g. a CSV without the expected columns."""


@dataclass
class ImportStats:
    rows: int = 0
    written: int = 0
    skipped: int = 0
    first_problem: str = ""

    def skip(self, line: int, reason: str) -> None:
        self.skipped += 1
        if not self.first_problem:
            self.first_problem = f"line {line}: {reason}"


def _non_negative_int(value: object) -> int | None:
    # bool is a subclass of int, but true/false is not a token count.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _model_record(request_id: str, micros: int, provider: str, model: str) -> dict:
    return {
        "ts": format_micros(micros),
        "request_id": request_id,
        "kind": "model",
        "provider": provider,
        "model": model,
    }


def _finish_record(record: dict, input_tokens: int, cache_read: int, output: int, feature: str) -> dict:
    record["input_tokens"] = input_tokens
    record["cache_read_tokens"] = cache_read
    record["cache_write_tokens"] = 0
    record["output_tokens"] = output
    record["status"] = "ok"
    record["attempt"] = 1
    if feature:
        record["feature"] = feature
    return record


def convert_mooncake(
    lines: Iterable[bytes],
    stats: ImportStats,
    *,
    start_micros: int,
    provider: str,
    model: str,
    feature: str = "",
    cache_ttl: float = 300.0,
    block_size: int = 512,
    id_prefix: str = "mooncake",
) -> Iterator[dict]:
    """Yield one record per valid Mooncake row, with cache reads from the prefix blocks.

    A hash id is live when its last use was at most `cache_ttl` seconds before this
    row's timestamp. The cache read is `block_size` times the number of leading live
    ids, capped at `input_length`; the rest of the prompt is base-rate input. After each
    row, all of its hash ids count as used at its timestamp. Rows are taken in file
    order, so a row with an earlier timestamp than the one before still refreshes ids.
    """
    ttl_micros = round(cache_ttl * MICROS)
    last_use: dict[object, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        stats.rows += 1
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as err:
            stats.skip(number, f"invalid JSON ({err})")
            continue
        if not isinstance(row, dict):
            stats.skip(number, "not a JSON object")
            continue

        timestamp = row.get("timestamp")
        if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or not math.isfinite(timestamp):
            stats.skip(number, f"timestamp {timestamp!r} is not a number of milliseconds")
            continue
        if timestamp < 0:
            stats.skip(number, f"timestamp {timestamp!r} is negative")
            continue
        input_length = _non_negative_int(row.get("input_length"))
        output_length = _non_negative_int(row.get("output_length"))
        if input_length is None or output_length is None:
            stats.skip(
                number,
                f"input_length {row.get('input_length')!r} or output_length {row.get('output_length')!r}"
                " is not a non-negative integer",
            )
            continue
        hash_ids = row.get("hash_ids")
        if not isinstance(hash_ids, list) or not all(
            isinstance(h, (int, str)) and not isinstance(h, bool) for h in hash_ids
        ):
            stats.skip(number, "hash_ids is not a list of integers or strings")
            continue

        micros = round(timestamp * 1000)
        live_blocks = 0
        for hash_id in hash_ids:
            used = last_use.get(hash_id)
            if used is None or micros - used > ttl_micros:
                break
            live_blocks += 1
        cache_read = min(block_size * live_blocks, input_length)
        for hash_id in hash_ids:
            last_use[hash_id] = micros

        record = _model_record(f"{id_prefix}-{number}", start_micros + micros, provider, model)
        stats.written += 1
        yield _finish_record(record, input_length - cache_read, cache_read, output_length, feature)


def parse_azure_timestamp(text: str) -> int | None:
    """Parse an Azure trace TIMESTAMP (UTC, up to 9 fractional digits) into Unix microseconds."""
    match = _AZURE_TIMESTAMP.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc)
    except ValueError:
        return None
    # Digits past microseconds are truncated.
    micros = int((fraction or "").ljust(6, "0")[:6])
    return int(moment.timestamp()) * MICROS + micros


def _parse_token_count(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def convert_azure(
    lines: Iterable[str],
    stats: ImportStats,
    *,
    provider: str,
    model: str,
    feature: str = "",
    start_micros: int | None = None,
    id_prefix: str = "azure",
) -> Iterator[dict]:
    """Yield one record per valid row of an Azure LLM inference trace CSV.

    `ts` is the row's TIMESTAMP in UTC. With `start_micros`, every timestamp is shifted
    by the same amount so that the first valid row is at that instant.
    """
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise TraceError("empty trace, expected a CSV header with " + ", ".join(AZURE_COLUMNS))
    header = [name.strip().lstrip("\ufeff") for name in header]
    missing = [name for name in AZURE_COLUMNS if name not in header]
    if missing:
        raise TraceError(
            f"the CSV header lacks the columns {missing}. Expected {', '.join(AZURE_COLUMNS)}, "
            f"found {header[:5]}{' ...' if len(header) > 5 else ''}"
        )
    ts_column, context_column, generated_column = (header.index(name) for name in AZURE_COLUMNS)
    width = max(ts_column, context_column, generated_column) + 1

    shift: int | None = None if start_micros is not None else 0
    for row in reader:
        number = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        stats.rows += 1
        if len(row) < width:
            stats.skip(number, f"expected at least {width} columns, found {len(row)}")
            continue
        micros = parse_azure_timestamp(row[ts_column])
        if micros is None:
            stats.skip(number, f"TIMESTAMP {row[ts_column]!r} is not YYYY-MM-DD HH:MM:SS[.fraction]")
            continue
        context_tokens = _parse_token_count(row[context_column])
        generated_tokens = _parse_token_count(row[generated_column])
        if context_tokens is None or generated_tokens is None:
            stats.skip(
                number,
                f"ContextTokens {row[context_column]!r} or GeneratedTokens {row[generated_column]!r}"
                " is not a non-negative integer",
            )
            continue
        if shift is None:
            shift = start_micros - micros

        record = _model_record(f"{id_prefix}-{number}", micros + shift, provider, model)
        stats.written += 1
        yield _finish_record(record, context_tokens, 0, generated_tokens, feature)


def write_records(records: Iterable[dict], out: BinaryIO, batch_lines: int = 4096) -> None:
    dumps = orjson.dumps
    option = orjson.OPT_APPEND_NEWLINE
    batch: list[bytes] = []
    for record in records:
        batch.append(dumps(record, option=option))
        if len(batch) >= batch_lines:
            out.write(b"".join(batch))
            batch.clear()
    out.write(b"".join(batch))
    out.flush()
