"""JSON over HTTPS with timeouts, bounded retries, exponential backoff with jitter and `Retry-After`."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from .errors import VendorError

log = logging.getLogger(__name__)

MAX_PAGES = 1000


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings of one logical request. `budget` caps the total seconds spent waiting between attempts."""

    timeout: float = 30.0
    max_attempts: int = 5
    budget: float = 60.0
    base_delay: float = 1.0
    max_delay: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: a uniform wait in [0, min(max_delay, base_delay * 2**(attempt-1))]."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


class JSONClient:
    """GETs JSON from one base URL with fixed headers. `sleep` and `rng` are injectable for tests;
    `on_error(error_class)` is called once per failed attempt, retried or not."""

    def __init__(self, base_url: str, headers: dict[str, str], policy: RetryPolicy,
                 on_error: Callable[[str], None], sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, source: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self._on_error = on_error
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._source = source
        self._session = requests.Session()
        self._session.headers.update(headers)

    def get(self, path: str, params: list[tuple[str, Any]]) -> dict[str, Any]:
        """Return the decoded JSON object of GET `path`, retrying what a retry can fix."""
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(path, params)
            except VendorError as err:
                self._on_error(err.error_class)
                err.counted = True
                if not err.retryable or attempt >= self.policy.max_attempts:
                    raise
                delay = err.retry_after if err.retry_after is not None else self.policy.backoff(attempt, self._rng)
                if waited + delay > self.policy.budget:
                    exhausted = VendorError(err.error_class, f"{err}; giving up: waiting {delay:.1f}s more would "
                                            f"exceed the retry budget of {self.policy.budget:g}s")
                    exhausted.counted = True
                    raise exhausted from None
                log.warning("source %s: %s; retry %d in %.2fs", self._source, err, attempt, delay)
                self._sleep(delay)
                waited += delay

    def pages(self, path: str, params: list[tuple[str, Any]]) -> Iterator[dict[str, Any]]:
        """Yield every page of a cursor-paginated list (`has_more`, `next_page`, passed back as `page`)."""
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = self.get(path, params if cursor is None else [*params, ("page", cursor)])
            yield page
            if not page.get("has_more"):
                return
            next_cursor = page.get("next_page")
            if not isinstance(next_cursor, str) or not next_cursor or next_cursor == cursor:
                raise VendorError("invalid_response", f"GET {path}: has_more is true but next_page is "
                                  f"{'missing' if not next_cursor else 'unchanged'}")
            cursor = next_cursor
        raise VendorError("invalid_response", f"GET {path}: more than {MAX_PAGES} pages; narrow the lookback")

    def close(self) -> None:
        self._session.close()

    def _attempt(self, path: str, params: list[tuple[str, Any]]) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        try:
            response = self._session.get(url, params=params, timeout=self.policy.timeout)
        except requests.Timeout:
            raise VendorError("timeout", f"GET {path} timed out after {self.policy.timeout:g}s") from None
        except requests.ConnectionError as err:
            raise VendorError("connection", f"GET {path} failed to connect: {type(err).__name__}") from None
        except requests.RequestException as err:
            raise VendorError("connection", f"GET {path} failed: {type(err).__name__}") from None
        status = response.status_code
        # Response bodies are never quoted: a 401 body may echo part of the key.
        if status == 429:
            raise VendorError("rate_limit", f"GET {path} returned 429 Too Many Requests",
                              retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status in (401, 403):
            raise VendorError("auth", f"GET {path} returned {status}: check the admin key and its permissions")
        if status >= 500:
            raise VendorError("server_error", f"GET {path} returned {status}",
                              retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status != 200:
            raise VendorError("client_error", f"GET {path} returned {status}")
        try:
            body = response.json()
        except ValueError:
            raise VendorError("invalid_response", f"GET {path} returned malformed JSON") from None
        if not isinstance(body, dict):
            raise VendorError("invalid_response", f"GET {path} returned JSON that is not an object")
        return body


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Return the wait in seconds of a `Retry-After` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now())
