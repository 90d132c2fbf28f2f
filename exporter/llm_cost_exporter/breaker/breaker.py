"""The breaker's state: which spenders are held open, by which alerts, until when.

A key (a value of a scope label such as api_key_id or feature) is open while at least one
alert holds it. A firing notification places or refreshes a hold for `ttl` seconds, a resolved
notification removes it, and a hold that is not refreshed expires on its own, so a lost resolve
notification cannot throttle a key forever. Checks take one short lock and read a dict, so a
gateway's check costs microseconds and never waits for SQLite.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .webhook import AlertAction

if TYPE_CHECKING:
    from .store import BreakerStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hold:
    """One alert holding one key open."""

    scope: str
    key: str
    fingerprint: str
    alertname: str
    reason: str
    opened_at: float
    expires_at: float


@dataclass(frozen=True)
class Decision:
    """The result of a gateway's check: allowed, or throttled by `hold` until `reopens_at` (Unix seconds)."""

    allowed: bool
    hold: Hold | None = None
    reopens_at: float | None = None


ALLOWED = Decision(True)


class Breaker:
    def __init__(self, ttl: float, store: BreakerStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.store = store
        self._clock = clock
        self._lock = threading.Lock()
        # Serialises notifications, so the store receives their writes in the order they were applied.
        self._write_lock = threading.Lock()
        self._holds: dict[tuple[str, str], dict[str, Hold]] = {}
        self.checks = {"allowed": 0, "throttled": 0}
        self.notifications = {"accepted": 0, "rejected": 0, "unauthorized": 0}

    def restore(self) -> int:
        """Load the unexpired holds from the store and return how many keys are open."""
        if self.store is None:
            return 0
        now = self._clock()
        with self._lock:
            for hold in self.store.load():
                if hold.expires_at > now:
                    self._holds.setdefault((hold.scope, hold.key), {})[hold.fingerprint] = hold
            return len(self._holds)

    def apply(self, actions: Iterable[AlertAction]) -> tuple[int, int]:
        """Apply the actions of one notification and return (holds placed or refreshed, holds released)."""
        placed = released = 0
        with self._write_lock:
            now = self._clock()
            with self._lock:
                for action in actions:
                    entry_key = (action.scope, action.key)
                    holds = self._holds.get(entry_key, {})
                    if action.firing:
                        previous = holds.get(action.fingerprint)
                        opened_at = previous.opened_at if previous and previous.expires_at > now else now
                        if not any(hold.expires_at > now for hold in holds.values()):
                            log.warning("breaker opened %s=%s for %.0fs: %s", action.scope, action.key, self.ttl,
                                        action.reason)
                        holds[action.fingerprint] = Hold(action.scope, action.key, action.fingerprint,
                                                         action.alertname, action.reason, opened_at, now + self.ttl)
                        self._holds[entry_key] = holds
                        placed += 1
                    elif holds.pop(action.fingerprint, None) is not None:
                        released += 1
                        if not any(hold.expires_at > now for hold in holds.values()):
                            log.warning("breaker closed %s=%s: alert %s resolved", action.scope, action.key,
                                        action.alertname)
                self._prune(now)
                snapshot = [hold for holds in self._holds.values() for hold in holds.values()]
                self.notifications["accepted"] += 1
            if self.store is not None:
                self.store.replace(snapshot)
        return placed, released

    def check(self, scoped_keys: Iterable[tuple[str, str]]) -> Decision:
        """Return whether a call of the spender named by (scope, key) pairs may go ahead."""
        now = self._clock()
        with self._lock:
            decision = ALLOWED
            for entry_key in scoped_keys:
                holds = self._holds.get(entry_key)
                if not holds:
                    continue
                live = [hold for hold in holds.values() if hold.expires_at > now]
                if live:
                    first = min(live, key=lambda hold: hold.opened_at)
                    decision = Decision(False, first, max(hold.expires_at for hold in live))
                    break
            self.checks["allowed" if decision.allowed else "throttled"] += 1
            return decision

    def count_rejected(self, reason: str) -> None:
        with self._lock:
            self.notifications[reason] += 1

    def open_keys(self) -> list[Decision]:
        """Return one throttling decision per open key, expiring stale holds first."""
        now = self._clock()
        with self._lock:
            self._prune(now)
            decisions = []
            for holds in self._holds.values():
                first = min(holds.values(), key=lambda hold: hold.opened_at)
                decisions.append(Decision(False, first, max(hold.expires_at for hold in holds.values())))
            return decisions

    def counters(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self.checks), dict(self.notifications)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def _prune(self, now: float) -> None:
        """Drop expired holds and empty keys; the caller holds `_lock`."""
        for entry_key in list(self._holds):
            holds = self._holds[entry_key]
            expired = [fingerprint for fingerprint, hold in holds.items() if hold.expires_at <= now]
            for fingerprint in expired:
                del holds[fingerprint]
            if not holds:
                del self._holds[entry_key]
                if expired:
                    log.warning("breaker closed %s=%s: its hold expired without a refresh", *entry_key)


