"""Per-user spend over rolling event-time windows, summarized per cohort.

Each window keeps its spend in time buckets of window/60 (a 1h window in 1-minute buckets),
so the window edge is accurate to one bucket. A user's total is kept incrementally and a
bucket leaving the window is subtracted.
"""

from __future__ import annotations

import heapq
import math

BUCKETS_PER_WINDOW = 60
QUANTILES = (0.5, 0.9, 0.95, 0.99, 1.0)

UserKey = tuple[str, str]  # (cohort, user_id)


class RollingWindow:
    def __init__(self, seconds: float, max_users: int) -> None:
        self.seconds = seconds
        self.width = seconds / BUCKETS_PER_WINDOW
        self.max_users = max_users
        self.buckets: dict[int, dict[UserKey, float]] = {}
        # user -> [spend in window, number of buckets holding spend]
        self.totals: dict[UserKey, list] = {}
        self.oldest_live = -(1 << 62)
        self.dropped = 0.0

    def add(self, ts: float, user: UserKey, cost: float) -> None:
        index = int(ts // self.width)
        if index < self.oldest_live:
            return  # older than the window already
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self.buckets[index] = {}
        total = self.totals.get(user)
        if total is None:
            if len(self.totals) >= self.max_users:
                self.dropped += 1
                return
            total = self.totals[user] = [0.0, 0]
        if user in bucket:
            bucket[user] += cost
        else:
            bucket[user] = cost
            total[1] += 1
        total[0] += cost

    def add_many(self, spends: dict[tuple[UserKey, int], float], slot: float) -> None:
        """Add spend keyed by ((cohort, user_id), slot index), where a slot lasts `slot` seconds.

        The same steps as `add`, in one loop, because this runs for every closed request.
        The keys come roughly in time order, so the bucket of the previous key is reused.
        """
        slots_per_bucket = self.width / slot
        whole = slots_per_bucket.is_integer()
        slots_per_bucket = int(slots_per_bucket) if whole else slots_per_bucket
        buckets = self.buckets
        totals = self.totals
        last_index = None
        bucket: dict[UserKey, float] = {}
        for (user, slot_index), cost in spends.items():
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
                total = totals[user] = [0.0, 0]
            spent = bucket.get(user)
            if spent is None:
                bucket[user] = cost
                total[1] += 1
            else:
                bucket[user] = spent + cost
            total[0] += cost

    def advance(self, now: float) -> None:
        """Drop the buckets that lie wholly before `now - seconds`."""
        oldest_live = int((now - self.seconds) // self.width) + 1
        if oldest_live <= self.oldest_live:
            return
        self.oldest_live = oldest_live
        for index in [index for index in self.buckets if index < oldest_live]:
            for user, cost in self.buckets.pop(index).items():
                total = self.totals[user]
                total[1] -= 1
                if total[1] == 0:
                    del self.totals[user]
                else:
                    total[0] -= cost

    def summary(self, top_k: int) -> dict[str, tuple[int, float, list[float], list[tuple[str, float]]]]:
        """Return, per cohort, (active users, total spend, spend at each of QUANTILES, top-k (user_id, spend))."""
        per_cohort: dict[str, list[tuple[float, str]]] = {}
        for (cohort, user_id), (spend, _) in self.totals.items():
            per_cohort.setdefault(cohort, []).append((spend, user_id))
        result = {}
        for cohort, entries in per_cohort.items():
            spends = sorted(spend for spend, _ in entries)
            quantiles = [spends[max(0, math.ceil(q * len(spends)) - 1)] for q in QUANTILES]
            top = [(user_id, spend) for spend, user_id in heapq.nlargest(top_k, entries)] if top_k else []
            result[cohort] = (len(spends), sum(spends), quantiles, top)
        return result

    def export_state(self) -> dict:
        return {"buckets": [[index, [[c, u, cost] for (c, u), cost in bucket.items()]]
                            for index, bucket in self.buckets.items()],
                "oldest_live": self.oldest_live, "dropped": self.dropped}

    def restore(self, state: dict) -> None:
        self.buckets, self.totals = {}, {}
        for index, entries in state.get("buckets", []):
            for cohort, user_id, cost in entries:
                self.buckets.setdefault(index, {})[(cohort, user_id)] = cost
                total = self.totals.setdefault((cohort, user_id), [0.0, 0])
                total[0] += cost
                total[1] += 1
        self.oldest_live = state.get("oldest_live", self.oldest_live)
        self.dropped = state.get("dropped", 0.0)
