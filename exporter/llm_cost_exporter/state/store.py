"""SQLite checkpoints: one transaction writes the aggregator state and every source position,
so after a crash both describe the same moment and no record is counted twice or lost."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)


class StateError(Exception):
    """The state database cannot be opened or read."""


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            # WAL with synchronous=NORMAL survives a killed process; only a power cut may lose the last commit.
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS checkpoint (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        except (OSError, sqlite3.Error) as err:
            raise StateError(f"cannot open the state database {self.path}: {err}; fix its permissions, "
                             "or move the file away to start counting from zero") from None
        self._saved: dict[str, bytes] = {}  # what the database holds, per key, as last written here

    def load(self) -> dict[str, Any] | None:
        """Return the last checkpoint as {key: value}, or None when there is none."""
        try:
            rows = self._db.execute("SELECT key, value FROM checkpoint").fetchall()
            if not rows:
                return None
            return {key: orjson.loads(value) for key, value in rows}
        except (sqlite3.Error, orjson.JSONDecodeError) as err:
            raise StateError(f"cannot read the state database {self.path}: {err}; move the file away to "
                             "start counting from zero (Prometheus then sees a counter reset)") from None

    def save(self, entries: dict[str, Any]) -> None:
        """Write all entries in one transaction, skipping those unchanged since the last save."""
        encoded = [(key, orjson.dumps(value)) for key, value in entries.items()]
        encoded = [(key, value) for key, value in encoded if self._saved.get(key) != value]
        if not encoded:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO checkpoint (key, value) VALUES (?, ?)", encoded)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._saved.update(encoded)

    def close(self) -> None:
        self._db.close()
