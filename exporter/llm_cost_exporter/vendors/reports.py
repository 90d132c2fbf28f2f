"""Checks of vendor report shapes that turn a surprise into an `invalid_response` error, not a crash."""

from __future__ import annotations

from datetime import datetime, timezone

from .errors import VendorError


def as_list(container: dict, key: str, where: str) -> list:
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise VendorError("invalid_response", f"{where}: field {key} is {type(value).__name__}, expected a list")
    return value


def as_object(container: dict, key: str, where: str) -> dict:
    value = container.get(key)
    if not isinstance(value, dict):
        raise VendorError("invalid_response", f"{where}: field {key} is {type(value).__name__}, expected an object")
    return value


def bucket_bounds_unix(raw: object, where: str) -> tuple[float, float]:
    """Return (start, end) of a bucket with Unix-second `start_time` and `end_time`."""
    if not isinstance(raw, dict):
        raise VendorError("invalid_response", f"{where}: a bucket is {type(raw).__name__}, expected an object")
    start, end = raw.get("start_time"), raw.get("end_time")
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (start, end)):
        raise VendorError("invalid_response", f"{where}: bucket start_time/end_time missing or not numbers")
    if end <= start:
        raise VendorError("invalid_response", f"{where}: bucket ends at {end}, not after its start {start}")
    return float(start), float(end)


def bucket_bounds_rfc3339(raw: object, where: str) -> tuple[float, float]:
    """Return (start, end) of a bucket with RFC 3339 `starting_at` and `ending_at`."""
    if not isinstance(raw, dict):
        raise VendorError("invalid_response", f"{where}: a bucket is {type(raw).__name__}, expected an object")
    start, end = parse_rfc3339(raw.get("starting_at"), where), parse_rfc3339(raw.get("ending_at"), where)
    if end <= start:
        raise VendorError("invalid_response", f"{where}: bucket ends at {raw.get('ending_at')}, not after its start")
    return start, end


def parse_rfc3339(value: object, where: str) -> float:
    if not isinstance(value, str):
        raise VendorError("invalid_response", f"{where}: bucket time {value!r} is not an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise VendorError("invalid_response", f"{where}: bucket time {value!r} is not an RFC 3339 string") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def format_rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
