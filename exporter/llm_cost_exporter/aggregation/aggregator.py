"""The aggregator: every cumulative number the exporter exposes, updated one CallEvent at a time."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Sequence
from operator import attrgetter

from ..config.models import Config
from ..events import ATTRIBUTION_FIELDS, KIND_MODEL, KIND_TOOL, CallEvent
from ..pricing import PriceBook
from .budgets import BudgetTracker
from .histograms import CALL_BUCKET_INDEX, CALL_BUCKETS, COST_BUCKETS, MAX_INDEXED_CALLS, new_histogram
from .labels import LabelLimiter
from .prefixes import PrefixTracker
from .requests import ARRIVAL as REQUEST_ARRIVAL
from .requests import COHORT as REQUEST_COHORT
from .requests import COST as REQUEST_COST
from .requests import FEATURE as REQUEST_FEATURE
from .requests import INTENT as REQUEST_INTENT
from .requests import LAST_TS
from .requests import MODEL_CALLS as REQUEST_MODEL_CALLS
from .requests import TOOL_CALLS as REQUEST_TOOL_CALLS
from .requests import USER as REQUEST_USER
from .requests import RequestAssembler
from .users import RollingWindow, user_key_prefix

# Positions in the value list of a model series.
(INPUT, CACHE_READ, CACHE_WRITE, OUTPUT, REASONING,
 INPUT_USD, CACHE_READ_USD, CACHE_WRITE_USD, OUTPUT_USD, CALLS_OK, CALLS_ERROR) = range(11)
SERIES_WIDTH = 11

# Distinct raw label sets whose resolution (limits, price, budgets) is cached.
MAX_CACHED_SERIES = 200_000

# Failed calls remembered so that a retry can name the error class it retried.
MAX_REMEMBERED_FAILURES = 100_000


def series_key_getter(attribution: Sequence[str]) -> Callable[[CallEvent], tuple]:
    """Return a function of an event that gives its raw series key: (provider, model, *attribution values)."""
    if all(name in ATTRIBUTION_FIELDS for name in attribution):
        return attrgetter("provider", "model", *attribution)  # the common case, in one C call

    def series_key(event: CallEvent) -> tuple:
        extra = event.extra_attributes
        return (event.provider, event.model,
                *[getattr(event, name) if name in ATTRIBUTION_FIELDS else extra.get(name, "") for name in attribution])

    return series_key


class _SeriesEntry:
    """Resolution of one distinct (provider, model, attribution values) tuple: labels, price, budgets."""

    __slots__ = ("values", "price", "budgets", "overflowed", "feature", "intent", "cohort", "provider", "model",
                 "prefixes")

    def __init__(self, values, price, budgets, overflowed, feature, intent, cohort, provider, model, prefixes):
        self.values = values
        self.price = price
        self.budgets = budgets
        self.overflowed = overflowed
        self.feature = feature
        self.intent = intent
        self.cohort = cohort
        self.provider = provider
        self.model = model
        self.prefixes = prefixes  # the feature's table of PrefixTracker.last_seen, set at the first hash


class Aggregator:
    """Owns the counters, histograms, request assembly, rolling user spend, prefixes and budgets.

    Not thread-safe: one ingestion thread calls `ingest` and `advance`; scrapes read the
    snapshots it publishes.
    """

    def __init__(self, config: Config, price_book: PriceBook | None = None) -> None:
        self.attribution: tuple[str, ...] = tuple(config.labels.attribution)
        self.price_book = price_book or PriceBook(config.pricing.overrides, config.pricing.aliases)
        self.limiter = LabelLimiter(config.labels.limits, config.labels.default_limit)

        self.model_series: dict[tuple, list[float]] = {}
        self.retries: dict[tuple[str, str, str, str], float] = {}
        self.retry_cost: dict[tuple[str, str, str], float] = {}
        self.tool_calls: dict[tuple[str, str, str], float] = {}
        self.request_cost: dict[tuple[str, str, str], list[float]] = {}
        self.request_model_calls: dict[tuple[str, str], list[float]] = {}
        self.request_tool_calls: dict[tuple[str, str], list[float]] = {}
        self._request_calls: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        self.unpriced_tokens: dict[tuple[str, str], float] = {}
        self.events: dict[tuple[str, str], float] = {}
        self.rejected: dict[tuple[str, str], float] = {}
        self.late_retries = 0.0

        self.requests = RequestAssembler(config.requests.idle_timeout, config.requests.max_open, self._observe_request)
        self.windows = {seconds: RollingWindow(seconds, config.cohorts.max_users) for seconds in config.cohorts.windows}
        self.top_k = config.cohorts.top_k
        self.prefixes = PrefixTracker(config.prefixes.windows)
        self.budgets = [BudgetTracker(budget) for budget in config.budgets]

        self.failures: OrderedDict[str, tuple[str, str, str, float]] = OrderedDict()
        self._series_cache: dict[tuple, _SeriesEntry] = {}
        self._series_key = series_key_getter(self.attribution)
        # A closed request's cost is collected per (user key, slot, cohort, user_id). A slot is one
        # bucket of the shortest window, and `advance` spreads the cost to the rolling windows.
        self._pending_users: dict[tuple[str, int, str, str], float] = {}
        self._user_slot = min(window.width for window in self.windows.values())
        self._user_key_prefixes: dict[str, str] = {}  # cohort -> user_key_prefix(cohort)
        self._tool_cache: dict[tuple[str, str, str, str], tuple[str, str, str, str]] = {}
        self.clock = float("-inf")  # latest of event time and, in live mode, wall-clock time

    # --- ingestion -------------------------------------------------------------------

    def register_source(self, source: str, reasons: Sequence[str]) -> None:
        """Start a source's event counters and its rejection counters for `reasons` at zero.

        Then rate() over them returns 0, not nothing, before the first rejection.
        """
        for result in ("accepted", "rejected"):
            self.events.setdefault((source, result), 0.0)
        for reason in reasons:
            self.rejected.setdefault((source, reason), 0.0)

    def count_accepted(self, source: str, count: int) -> None:
        key = (source, "accepted")
        self.events[key] = self.events.get(key, 0.0) + count

    def count_event(self, source: str, accepted: bool, reason: str = "") -> None:
        key = (source, "accepted" if accepted else "rejected")
        self.events[key] = self.events.get(key, 0.0) + 1.0
        if not accepted:
            key = (source, reason)
            self.rejected[key] = self.rejected.get(key, 0.0) + 1.0

    def ingest(self, event: CallEvent, arrival: float | None = None) -> None:
        """Add one accepted event. `arrival` is a monotonic reading used only to close idle requests."""
        self.ingest_batch((event,), time.monotonic() if arrival is None else arrival)

    def ingest_batch(self, events: Sequence[CallEvent], arrival: float) -> None:
        """Add accepted events in order; all arrived at the monotonic time `arrival`.

        This is the hot loop of the exporter, with the tables bound to locals. A model or
        tool call is counted and then joins its request, which starts anew after the idle
        timeout. A request end closes its request.
        """
        series_cache = self._series_cache
        series_key = self._series_key
        tool_cache = self._tool_cache
        tool_calls = self.tool_calls
        add_prefix = self.prefixes.add
        observe_request = self._observe_request
        requests = self.requests
        open_requests = requests.open
        idle_timeout = requests.idle_timeout
        max_open = requests.max_open
        watermark = requests.watermark
        clock = max(self.clock, watermark)

        for event in events:
            ts = event.ts
            if ts > watermark:
                watermark = ts
                if ts > clock:
                    clock = ts
            kind = event.kind
            if kind == KIND_MODEL:
                raw_key = series_key(event)
                entry = series_cache.get(raw_key)
                if entry is None:
                    entry = self._admit_series(raw_key, event)
                cost = self._count_model_call(event, entry, ts)
                feature, intent, cohort = entry.feature, entry.intent, entry.cohort
                model_calls, tools = 1, 0
            elif kind == KIND_TOOL:
                raw = (event.tool, event.feature, event.intent, event.cohort)
                labels = tool_cache.get(raw)
                if labels is None:
                    labels = self._admit_tool(raw)
                tool, feature, intent, cohort = labels
                key = (tool, event.status, feature)
                tool_calls[key] = tool_calls.get(key, 0.0) + 1.0
                cost, model_calls, tools = 0.0, 0, 1
            else:
                request = open_requests.pop(event.request_id, None)
                if request is not None:
                    requests.close(request)
                continue

            # Request assembly.
            request_id = event.request_id
            if not request_id:
                observe_request([ts, arrival, cost, model_calls, tools, feature, intent, cohort, event.user_id])
                continue
            request = open_requests.pop(request_id, None)
            if request is None or request[LAST_TS] + idle_timeout <= watermark:
                if request is not None:
                    requests.close(request)
                if len(open_requests) >= max_open:
                    requests.evict_oldest()
                request = [ts, arrival, cost, model_calls, tools, feature, intent, cohort, event.user_id]
            else:
                if ts > request[LAST_TS]:
                    request[LAST_TS] = ts
                request[REQUEST_ARRIVAL] = arrival
                request[REQUEST_COST] += cost
                request[REQUEST_MODEL_CALLS] += model_calls
                request[REQUEST_TOOL_CALLS] += tools
                if not (request[REQUEST_FEATURE] and request[REQUEST_INTENT] and request[REQUEST_COHORT]
                        and request[REQUEST_USER]):
                    requests.fill_labels(request, feature, intent, cohort, event.user_id)
            open_requests[request_id] = request
        requests.watermark = watermark
        self.clock = clock

    def _count_model_call(self, event: CallEvent, entry: _SeriesEntry, ts: float) -> float:
        """Count a model call's tokens and cost in its series, budgets, prefixes and retries, and return the cost."""
        input_tokens = event.input_tokens
        cache_read = event.cache_read_tokens
        cache_write = event.cache_write_tokens
        output = event.output_tokens
        values = entry.values
        values[INPUT] += input_tokens
        values[CACHE_READ] += cache_read
        values[CACHE_WRITE] += cache_write
        values[OUTPUT] += output
        values[REASONING] += event.reasoning_tokens
        price = entry.price
        if price is None:
            cost = self._count_unpriced(entry, input_tokens + cache_read + cache_write + output)
        else:
            rates = price.rates_for(input_tokens + cache_read + cache_write) if price.thresholds else price.base
            input_usd = input_tokens * rates.input
            read_usd = cache_read * rates.cache_read
            write_usd = cache_write * rates.cache_write
            if event.cache_write_1h_tokens:
                write_usd += event.cache_write_1h_tokens * (rates.cache_write_1h - rates.cache_write)
            output_usd = output * rates.output
            values[INPUT_USD] += input_usd
            values[CACHE_READ_USD] += read_usd
            values[CACHE_WRITE_USD] += write_usd
            values[OUTPUT_USD] += output_usd
            cost = input_usd + read_usd + write_usd + output_usd
        failed = event.status == "error"
        values[CALLS_ERROR if failed else CALLS_OK] += 1

        if entry.overflowed:
            for label in entry.overflowed:
                self.limiter.count_overflow(label)
        for budget in entry.budgets:
            budget.add(ts, cost)
        prefix_hash = event.prompt_prefix_hash
        if prefix_hash:
            seen = entry.prefixes
            if seen is None:  # a feature gets a prefix table only with its first hash
                seen = entry.prefixes = self.prefixes.table(entry.feature)
            last_seen = seen.get(prefix_hash)
            if last_seen is None:
                self.prefixes.add(ts, entry.feature, prefix_hash)
            elif ts > last_seen:
                seen[prefix_hash] = ts
        if event.attempt > 1 or event.retry_of:
            self._count_retry(event, entry)
        if failed and event.call_id:
            self._remember_failure(event.call_id, entry, event.error_class, cost)
        return cost

    def _count_unpriced(self, entry: _SeriesEntry, tokens: int) -> float:
        key = (entry.provider, entry.model)
        self.unpriced_tokens[key] = self.unpriced_tokens.get(key, 0.0) + tokens
        return 0.0

    def _admit_tool(self, raw: tuple[str, str, str, str]) -> tuple[str, str, str, str]:
        """Return the limited (tool, feature, intent, cohort) labels of a tool call, cached when unchanged."""
        labels = (self._limit("tool", raw[0]), self._limit("feature", raw[1]),
                  self._limit("intent", raw[2]), self._limit("cohort", raw[3]))
        if labels == raw and len(self._tool_cache) < MAX_CACHED_SERIES:
            self._tool_cache[raw] = labels
        return labels

    def _admit_series(self, raw_key: tuple, event: CallEvent) -> _SeriesEntry:
        overflowed = []
        limited = []
        resolved = (raw_key[0], self.price_book.resolve_model(raw_key[1]), *raw_key[2:])
        for label, value in zip(("provider", "model", *self.attribution), resolved):
            admitted = self.limiter.limit(label, value)
            if admitted != value:
                overflowed.append(label)
            limited.append(admitted)
        key = tuple(limited)
        values = self.model_series.get(key)
        if values is None:
            values = self.model_series[key] = [0.0] * SERIES_WIDTH

        provider, model = raw_key[0], self.price_book.resolve_model(raw_key[1])
        price = self.price_book.lookup(provider, model)
        match_values = {"provider": provider, "model": model, **dict(zip(self.attribution, raw_key[2:]))}
        budgets = tuple(budget for budget in self.budgets if budget.matches(match_values))
        entry = _SeriesEntry(
            values=values,
            price=price,
            budgets=budgets,
            overflowed=tuple(overflowed),
            feature=self._limit("feature", event.feature),
            intent=self._limit("intent", event.intent),
            cohort=self._limit("cohort", event.cohort),
            provider=key[0],
            model=key[1],
            prefixes=None,
        )
        # Raw keys with an overflowed value are not cached: a leaked id makes each of them new,
        # and caching them would grow memory without bound.
        if not entry.overflowed and len(self._series_cache) < MAX_CACHED_SERIES:
            self._series_cache[raw_key] = entry
        return entry

    def _limit(self, label: str, value: str) -> str:
        return self.limiter.limit(label, value)

    # --- retries ---------------------------------------------------------------------

    def _remember_failure(self, call_id: str, entry: _SeriesEntry, error_class: str, cost: float) -> None:
        self.failures[call_id] = (entry.provider, error_class, entry.feature, cost)
        if len(self.failures) > MAX_REMEMBERED_FAILURES:
            self.failures.popitem(last=False)

    def _count_retry(self, event: CallEvent, entry: _SeriesEntry) -> None:
        """Count a retry under the error class of the attempt it retried, and that attempt's cost."""
        failure = self.failures.pop(event.retry_of, None) if event.retry_of else None
        if failure is None:
            # The retried attempt is unknown (no retry_of, or it was not logged as an error).
            self.late_retries += 1
            error_class = "other"
        else:
            provider, error_class, feature, cost = failure
            key = (provider, error_class, feature)
            self.retry_cost[key] = self.retry_cost.get(key, 0.0) + cost
        key = (entry.provider, entry.model, error_class, entry.feature)
        self.retries[key] = self.retries.get(key, 0.0) + 1.0

    # --- requests --------------------------------------------------------------------

    def _observe_request(self, request: list) -> None:
        """Observe a closed request in the histograms, and add its cost to its user's spend.

        This runs once per request, so the histogram updates are written out here.
        """
        cost = request[REQUEST_COST]
        model_calls = request[REQUEST_MODEL_CALLS]
        tool_calls = request[REQUEST_TOOL_CALLS]
        feature, intent, cohort, user_id = request[REQUEST_FEATURE:]
        if user_id:
            prefix = self._user_key_prefixes.get(cohort)
            if prefix is None:
                prefix = self._user_key_prefixes[cohort] = user_key_prefix(cohort)
            key = (prefix + user_id, int(request[LAST_TS] // self._user_slot), cohort, user_id)
            pending = self._pending_users
            pending[key] = pending.get(key, 0.0) + cost

        histogram = self.request_cost.get((feature, intent, cohort))
        if histogram is None:
            histogram = self.request_cost[(feature, intent, cohort)] = new_histogram(COST_BUCKETS)
        histogram[bisect_left(COST_BUCKETS, cost)] += 1.0
        histogram[-2] += cost
        histogram[-1] += 1.0

        calls = self._request_calls.get((feature, intent))
        if calls is None:
            calls = self._new_call_histograms(feature, intent)
        histogram, tool_histogram = calls
        histogram[CALL_BUCKET_INDEX[model_calls] if model_calls <= MAX_INDEXED_CALLS else -3] += 1.0
        histogram[-2] += model_calls
        histogram[-1] += 1.0
        tool_histogram[CALL_BUCKET_INDEX[tool_calls] if tool_calls <= MAX_INDEXED_CALLS else -3] += 1.0
        tool_histogram[-2] += tool_calls
        tool_histogram[-1] += 1.0

    def _new_call_histograms(self, feature: str, intent: str) -> tuple[list[float], list[float]]:
        """Return the model-call and tool-call histograms of one (feature, intent), created if new.

        After a restore, they may exist in the exposed tables but not yet in the pair cache.
        """
        key = (feature, intent)
        model_calls = self.request_model_calls.setdefault(key, new_histogram(CALL_BUCKETS))
        tool_calls = self.request_tool_calls.setdefault(key, new_histogram(CALL_BUCKETS))
        calls = self._request_calls[key] = (model_calls, tool_calls)
        return calls

    # --- time ------------------------------------------------------------------------

    def advance(self, wall_clock: float | None = None, caught_up: bool = False) -> None:
        """Close expired requests and move rolling windows and budget periods forward.

        `wall_clock` (live mode only) moves windows and budget periods even when no events
        arrive; `caught_up` also closes requests idle for the timeout in processing time.
        """
        self.requests.advance()
        if caught_up:
            self.requests.flush_idle(time.monotonic())
        if wall_clock is not None and wall_clock > self.clock:
            self.clock = wall_clock
        self.flush_pending()
        if self.clock == float("-inf"):
            return
        for window in self.windows.values():
            window.advance(self.clock)
        self.prefixes.advance(self.clock)
        for budget in self.budgets:
            budget.roll(self.clock)

    def flush_pending(self) -> None:
        """Spread the user spend collected since the last call to the rolling windows."""
        if not self._pending_users:
            return
        for window in self.windows.values():
            window.add_many(self._pending_users, self._user_slot)
        self._pending_users.clear()

    def flush(self) -> None:
        """Close every open request: the end of a finished log."""
        self.requests.flush_all()

    def forget_resolutions(self) -> None:
        """Drop the cached label resolutions, which refer to the tables that a restore replaces."""
        self._series_cache.clear()
        self._tool_cache.clear()
        self._request_calls.clear()

    # --- reading ---------------------------------------------------------------------

    def label_names(self) -> Sequence[str]:
        return self.attribution
