"""Loopback HTTP servers that speak the documented shapes of the OpenAI and Anthropic usage and cost APIs.

Each fake contains the "truth" (bucket start -> list of result objects) and pages through it the way
the vendor does: buckets in [start, end), `limit` buckets per page at most, `has_more` and an opaque
`next_page` cursor. Faults queued with `fail_next` are served, in order, before normal responses.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOUR = 3600
DAY = 86400


@dataclass
class Fault:
    """One scripted bad response: a status with headers and body, or a delay before a normal response."""

    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"error": {"message": "internal error"}}'
    delay: float = 0.0
    path: str | None = None


class FakeVendor:
    """Base of the fakes: a threaded loopback server, a fault queue and a request log."""

    def __init__(self, api_key: str, clock: Callable[[], float], page_size: int = 2) -> None:
        self.api_key = api_key
        self.clock = clock
        self.page_size = page_size
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
                fake._handle(self)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def fail_next(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append((parts.path, query))
            fault = next((f for f in self.faults if f.path in (None, parts.path)), None)
            if fault is not None:
                self.faults.remove(fault)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        elif fault is not None:
            return _send(handler, fault.status, fault.body, fault.headers)
        if not self.authorized(handler.headers):
            # Like OpenAI's, the 401 body quotes a masked form of the key it rejected.
            presented = handler.headers.get("x-api-key") or handler.headers.get("Authorization", "")
            presented = presented.removeprefix("Bearer ")
            message = f"Incorrect API key provided: {presented[:12]}***{presented[-4:]}"
            return _send(handler, 401, json.dumps({"error": {"message": message}}).encode())
        try:
            status, body = self.route(parts.path, query)
        except (KeyError, ValueError, IndexError, TypeError) as err:
            status, body = 400, {"error": {"message": f"bad request: {err}"}}
        _send(handler, status, json.dumps(body).encode())

    def authorized(self, headers) -> bool:
        raise NotImplementedError

    def route(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        raise NotImplementedError

    def page(self, starts: list[int], make_bucket: Callable[[int], dict], query: dict[str, list[str]],
             max_limit: int) -> dict:
        limit = min(int(query.get("limit", ["7"])[0]), max_limit)
        offset = int(base64.b64decode(query["page"][0]).decode()) if "page" in query else 0
        size = min(limit, self.page_size)
        chosen = starts[offset:offset + size]
        more = offset + size < len(starts)
        cursor = base64.b64encode(str(offset + size).encode()).decode() if more else None
        return {"object": "page", "data": [make_bucket(start) for start in chosen], "has_more": more,
                "next_page": cursor}


class FakeOpenAI(FakeVendor):
    """GET /v1/organization/usage/{completions,embeddings} and /v1/organization/costs."""

    WIDTHS = {"1m": 60, "1h": HOUR, "1d": DAY}
    LIMITS = {"1m": 1440, "1h": 168, "1d": 31}

    def __init__(self, api_key: str, clock: Callable[[], float], page_size: int = 2) -> None:
        self.usage: dict[str, dict[int, list[dict]]] = {"completions": {}, "embeddings": {}}
        self.costs: dict[int, list[dict]] = {}
        super().__init__(api_key, clock, page_size)

    def authorized(self, headers) -> bool:
        return headers.get("Authorization") == f"Bearer {self.api_key}"

    def route(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        start = int(query["start_time"][0])
        end = int(query.get("end_time", [str(int(self.clock()))])[0])
        if end > self.clock() + 1:
            return 400, {"error": {"message": "end_time is in the future"}}
        if path == "/v1/organization/costs":
            return 200, self.page(_starts(start, end, DAY), lambda s: self._bucket(s, DAY, self.costs.get(s, []),
                                                                                    "organization.costs.result"),
                                  query, 180)
        endpoint = path.removeprefix("/v1/organization/usage/")
        width_name = query.get("bucket_width", ["1d"])[0]
        width = self.WIDTHS[width_name]
        table = self.usage[endpoint]
        kind = f"organization.usage.{endpoint}.result"
        return 200, self.page(_starts(start, end, width),
                              lambda s: self._bucket(s, width, table.get(s, []), kind), query, self.LIMITS[width_name])

    @staticmethod
    def _bucket(start: int, width: int, results: list[dict], kind: str) -> dict:
        return {"object": "bucket", "start_time": start, "end_time": start + width,
                "results": [{"object": kind, **result} for result in results]}


class FakeAnthropic(FakeVendor):
    """GET /v1/organizations/usage_report/messages and /v1/organizations/cost_report."""

    WIDTHS = {"1m": 60, "1h": HOUR, "1d": DAY}

    def __init__(self, api_key: str, clock: Callable[[], float], page_size: int = 2) -> None:
        self.usage: dict[int, list[dict]] = {}
        self.costs: dict[int, list[dict]] = {}
        super().__init__(api_key, clock, page_size)

    def authorized(self, headers) -> bool:
        return headers.get("x-api-key") == self.api_key and headers.get("anthropic-version") == "2023-06-01"

    def route(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        start = int(_parse(query["starting_at"][0]))
        ending_at = _parse(query["ending_at"][0]) if "ending_at" in query else self.clock()
        if path == "/v1/organizations/cost_report":
            width, table, max_limit = DAY, self.costs, 31
        else:
            width = self.WIDTHS[query.get("bucket_width", ["1d"])[0]]
            table, max_limit = self.usage, 1440
        start -= start % width  # snapped to the start of the minute, hour or day in UTC
        # Buckets that end before ending_at; never the bucket in progress.
        starts = [s for s in _starts(start, int(ending_at), width) if s + width <= min(ending_at, self.clock())]
        return 200, self.page(starts, lambda s: {"starting_at": _format(s), "ending_at": _format(s + width),
                                                 "results": table.get(s, [])}, query, max_limit)


def _starts(start: int, end: int, width: int) -> list[int]:
    first = start - start % width
    return list(range(first, end, width)) if first < end else []


def _parse(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _format(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)
