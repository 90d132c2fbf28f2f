"""SQLite persistence of the breaker's holds, in a table of their own beside the checkpoint.

The breaker writes from HTTP threads while the ingestion loop writes checkpoints, so it uses a
connection of its own. SQLite's WAL mode lets both write the same file, one transaction at a time.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from .breaker import Hold

_SCHEMA = """
CREATE TABLE IF NOT EXISTS breaker_holds (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    alertname TEXT NOT NULL,
    reason TEXT NOT NULL,
    opened_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (scope, key, fingerprint)
)
"""


class BreakerStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def load(self) -> list[Hold]:
        with self._lock:
            rows = self._db.execute(
                "SELECT scope, key, fingerprint, alertname, reason, opened_at, expires_at FROM breaker_holds").fetchall()
        return [Hold(*row) for row in rows]

    def replace(self, holds: Iterable[Hold]) -> None:
        """Replace every stored hold with `holds` in one transaction."""
        rows = [(h.scope, h.key, h.fingerprint, h.alertname, h.reason, h.opened_at, h.expires_at) for h in holds]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM breaker_holds")
                self._db.executemany("INSERT INTO breaker_holds VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
