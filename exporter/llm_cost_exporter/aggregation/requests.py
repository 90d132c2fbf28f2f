"""Assembly of user-initiated requests from their calls, in event time with a watermark.

A request is open from its first call until one of these closes it:
- a `request_end` event for its id;
- the watermark (the latest event time seen) reaching its last call's time plus the idle
  timeout. The check is made lazily before a call joins a request, so the outcome does
  not depend on how events were batched: a replay gives the numbers of a live run;
- `flush_idle`: no call for it has arrived for the idle timeout in processing time while
  every source is caught up (a live log gone quiet), or `flush_all` at the end of a replay;
- the open-request limit, which closes the oldest request early and counts it.
"""

from __future__ import annotations

from collections.abc import Callable

# Fields of a request, kept in a list for speed. A closed request is handed on as the same list.
LAST_TS, ARRIVAL, COST, MODEL_CALLS, TOOL_CALLS, FEATURE, INTENT, COHORT, USER = range(9)


class RequestAssembler:
    """The open requests, keyed by request id, and the ways they close.

    Aggregator.ingest_batch adds calls to `open` itself, for speed. It re-inserts a request
    after each call, so `open` stays ordered by the arrival of each request's last call.
    """

    # NOTE: one watermark serves every source. A source whose clock runs ahead of the others
    # (a skewed gateway pod) can close the other sources' requests early, which a watermark
    # per source would avoid.

    def __init__(self, idle_timeout: float, max_open: int, on_close: Callable[[list], None]) -> None:
        self.idle_timeout = idle_timeout
        self.max_open = max_open
        self._on_close = on_close
        self.open: dict[str, list] = {}
        self.watermark = float("-inf")
        self.evicted = 0.0

    @staticmethod
    def fill_labels(request: list, feature: str, intent: str, cohort: str, user: str) -> None:
        """Fill the labels that the request's first calls left empty."""
        if not request[FEATURE]:
            request[FEATURE] = feature
        if not request[INTENT]:
            request[INTENT] = intent
        if not request[COHORT]:
            request[COHORT] = cohort
        if not request[USER]:
            request[USER] = user

    def close(self, request: list) -> None:
        """Hand a request taken out of `open` to the callback, unless it has no call."""
        if request[MODEL_CALLS] or request[TOOL_CALLS]:
            self._on_close(request)

    def advance(self) -> None:
        """Close the requests that the watermark has passed, oldest arrival first."""
        expired = [rid for rid, request in self.open.items()
                   if request[LAST_TS] + self.idle_timeout <= self.watermark]
        for rid in expired:
            self.close(self.open.pop(rid))

    def flush_idle(self, now: float) -> None:
        """Close requests with no call for the idle timeout in processing time (`now` is monotonic)."""
        while self.open:
            rid, request = next(iter(self.open.items()))
            if request[ARRIVAL] + self.idle_timeout > now:
                break
            del self.open[rid]
            self.close(request)

    def flush_all(self) -> None:
        for request in self.open.values():
            self.close(request)
        self.open.clear()

    def evict_oldest(self) -> None:
        """Close the request that arrived first, to stay within the open-request limit."""
        rid = next(iter(self.open))
        self.close(self.open.pop(rid))
        self.evicted += 1

    def export_state(self) -> dict:
        # Arrival times are monotonic-clock readings of this process, meaningless to the next one:
        # they are stored as 0, and restored requests count as just arrived.
        return {"watermark": self.watermark if self.watermark != float("-inf") else None,
                "open": [[rid, *request[:ARRIVAL], 0.0, *request[ARRIVAL + 1:]] for rid, request in self.open.items()],
                "evicted": self.evicted}

    def restore(self, state: dict, now: float) -> None:
        watermark = state.get("watermark")
        self.watermark = float("-inf") if watermark is None else watermark
        self.open = {}
        for rid, *request in state.get("open", []):
            if len(request) == USER:
                request.append("")  # saved before requests carried their user
            self.open[rid] = request
            request[ARRIVAL] = now
        self.evicted = state.get("evicted", 0.0)
