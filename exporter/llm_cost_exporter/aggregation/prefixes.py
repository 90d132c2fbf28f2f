"""Distinct prompt prefix hashes per feature over rolling windows.

A jump in distinct prefixes is the signature of something variable (a timestamp, a request
id) in the cacheable part of the prompt, which breaks prompt caching.
"""

from __future__ import annotations


class PrefixTracker:
    def __init__(self, windows: list[float], max_per_feature: int = 200_000) -> None:
        self.windows = sorted(windows)
        self.max_per_feature = max_per_feature
        self.last_seen: dict[str, dict[str, float]] = {}
        self.dropped = 0.0
        self._next_prune = float("-inf")

    def table(self, feature: str) -> dict[str, float]:
        """Return the feature's table of hash -> last seen, which callers may keep and update."""
        seen = self.last_seen.get(feature)
        if seen is None:
            seen = self.last_seen[feature] = {}
        return seen

    def add(self, ts: float, feature: str, prefix_hash: str) -> None:
        seen = self.table(feature)
        previous = seen.get(prefix_hash)
        if previous is None and len(seen) >= self.max_per_feature:
            self.dropped += 1
            return
        if previous is None or ts > previous:
            seen[prefix_hash] = ts

    def advance(self, now: float) -> None:
        """Forget hashes older than the longest window (at most once per shortest window / 60)."""
        if now < self._next_prune:
            return
        self._next_prune = now + self.windows[0] / 60
        horizon = now - self.windows[-1]
        for seen in self.last_seen.values():
            for prefix_hash in [h for h, ts in seen.items() if ts <= horizon]:
                del seen[prefix_hash]

    def counts(self, now: float) -> dict[tuple[str, float], int]:
        """Return distinct hashes per (feature, window seconds) seen in (now - window, now]."""
        result = {}
        for feature, seen in self.last_seen.items():
            for window in self.windows:
                horizon = now - window
                result[(feature, window)] = sum(1 for ts in seen.values() if ts > horizon)
        return result

    def export_state(self) -> dict:
        return {"last_seen": self.last_seen, "dropped": self.dropped}

    def restore(self, state: dict) -> None:
        self.last_seen = {feature: dict(seen) for feature, seen in state.get("last_seen", {}).items()}
        self.dropped = state.get("dropped", 0.0)
