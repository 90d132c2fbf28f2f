"""Per-user spend over rolling event-time windows, summarized per cohort.

Each window keeps its spend in time buckets of window/60 (a 1h window in 1-minute buckets),
so the window edge is accurate to one bucket. A user's total is kept incrementally and a
bucket leaving the window is subtracted.

A user is keyed by one string, `user_key(cohort, user_id)`, because a string caches its
hash and a tuple does not. The tables are looked up several times per closed request.
"""

from __future__ import annotations

import heapq
import math

BUCKETS_PER_WINDOW = 60
QUANTILES = (0.5, 0.9, 0.95, 0.99, 1.0)

# Positions in a user's entry of `RollingWindow.totals`.
SPEND, BUCKETS, COHORT, USER_ID = range(4)


def user_key_prefix(cohort: str) -> str:
    """Return the start of the keys of a cohort's users. The length prefix keeps the keys unambiguous."""
    return f"{len(cohort)}:{cohort}"


def user_key(cohort: str, user_id: str) -> str:
    """Return the table key of a (cohort, user_id) pair."""
    return user_key_prefix(cohort) + user_id


class RollingWindow:
    def __init__(self, seconds: float, max_users: int) -> None:
        self.seconds = seconds
        self.width = seconds / BUCKETS_PER_WINDOW
        self.max_users = max_users
        self.buckets: dict[int, dict[str, float]] = {}
        # user key -> [spend in window, number of buckets holding spend, cohort, user_id]
        self.totals: dict[str, list] = {}
        self.oldest_live = -(1 << 62)
        self.dropped = 0.0

    def add_many(self, spends: dict[tuple[str, int, str, str], float], slot: float) -> None:
        """Add spend keyed by (user key, slot index, cohort, user_id), where a slot lasts `slot` seconds.

        This runs for every closed request, so it is one loop with the tables in locals. The
        keys come roughly in time order, and the bucket of the previous key is reused.
        """
        slots_per_bucket = self.width / slot
        whole = slots_per_bucket.is_integer()
        slots_per_bucket = int(slots_per_bucket) if whole else slots_per_bucket
        buckets = self.buckets
        totals = self.totals
        last_index = None
        bucket: dict[str, float] = {}
        for (user, slot_index, cohort, user_id), cost in spends.items():
            index = slot_index // slots_per_bucket if whole else int(slot_index * slot // self.width)
            if index != last_index:
                if index < self.oldest_live:
                    continue
                bucket = buckets.get(index)
                if bucket is None:
                    bucket = buckets[index] = {}
                last_index = index

            total = totals.get(user)
            if total is None:
                if len(totals) >= self.max_users:
                    self.dropped += 1
                    continue
                total = totals[user] = [0.0, 0, cohort, user_id]
            spent = bucket.get(user)
            if spent is None:
                bucket[user] = cost
                total[BUCKETS] += 1
            else:
                bucket[user] = spent + cost
            total[SPEND] += cost

    def advance(self, now: float) -> None:
        """Drop the buckets that lie wholly before `now - seconds`."""
        oldest_live = int((now - self.seconds) // self.width) + 1
        if oldest_live <= self.oldest_live:
            return
        self.oldest_live = oldest_live
        totals = self.totals
        for index in [index for index in self.buckets if index < oldest_live]:
            for user, cost in self.buckets.pop(index).items():
                total = totals[user]
                total[BUCKETS] -= 1
                if total[BUCKETS] == 0:
                    del totals[user]
                else:
                    total[SPEND] -= cost

    def spend_by_user(self) -> dict[tuple[str, str], float]:
        """Return each user's spend in the window, keyed by (cohort, user_id)."""
        return {(cohort, user_id): spend for spend, _, cohort, user_id in self.totals.values()}

    def summary(self, top_k: int) -> dict[str, tuple[int, float, list[float], list[tuple[str, float]]]]:
        """Return, per cohort, (active users, total spend, spend at each of QUANTILES, top-k (user_id, spend))."""
        per_cohort: dict[str, list[tuple[float, str]]] = {}
        for spend, _, cohort, user_id in self.totals.values():
            per_cohort.setdefault(cohort, []).append((spend, user_id))
        result = {}
        for cohort, entries in per_cohort.items():
            spends = sorted(spend for spend, _ in entries)
            quantiles = [spends[max(0, math.ceil(q * len(spends)) - 1)] for q in QUANTILES]
            top = [(user_id, spend) for spend, user_id in heapq.nlargest(top_k, entries)] if top_k else []
            result[cohort] = (len(spends), sum(spends), quantiles, top)
        return result

    def export_state(self) -> dict:
        totals = self.totals
        return {"buckets": [[index, [[totals[user][COHORT], totals[user][USER_ID], cost]
                                     for user, cost in bucket.items()]]
                            for index, bucket in self.buckets.items()],
                "oldest_live": self.oldest_live, "dropped": self.dropped}

    def restore(self, state: dict) -> None:
        self.buckets, self.totals = {}, {}
        for index, entries in state.get("buckets", []):
            for cohort, user_id, cost in entries:
                user = user_key(cohort, user_id)
                self.buckets.setdefault(index, {})[user] = cost
                total = self.totals.setdefault(user, [0.0, 0, cohort, user_id])
                total[SPEND] += cost
                total[BUCKETS] += 1
        self.oldest_live = state.get("oldest_live", self.oldest_live)
        self.dropped = state.get("dropped", 0.0)
