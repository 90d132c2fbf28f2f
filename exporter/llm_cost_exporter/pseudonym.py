"""Pseudonyms for user ids in labels: a keyed hash, so ids cannot be recovered or guessed."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets

log = logging.getLogger(__name__)


class Pseudonymizer:
    def __init__(self, key: bytes) -> None:
        self._key = key
        self._cache: dict[str, str] = {}

    @classmethod
    def from_env(cls, variable: str) -> Pseudonymizer:
        """Use the key in environment variable `variable`, or a random key for this process only."""
        value = os.environ.get(variable, "")
        if value:
            return cls(value.encode())
        log.warning("%s is not set: top-user pseudonyms use a random key and change at every restart", variable)
        return cls(secrets.token_bytes(32))

    def pseudonym(self, user_id: str) -> str:
        """Return `u_` and the first 16 hex digits of HMAC-SHA256(key, user_id)."""
        cached = self._cache.get(user_id)
        if cached is None:
            digest = hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()
            cached = f"u_{digest[:16]}"
            if len(self._cache) < 100_000:
                self._cache[user_id] = cached
        return cached
