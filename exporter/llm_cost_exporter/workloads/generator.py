"""Workload generator: user requests turned into native gateway log records.

Requests arrive as a Poisson process whose rate follows the profile's seasonality.
Each request belongs to a user of a cohort, a feature and an intent, and runs an agent
workflow: model calls, tool calls between them, retries of failed calls, and a
`request_end` record. A record's `ts` is the time its call completed. Records of
overlapping requests are merged so `events()` yields them in non-decreasing `ts`.

The same seed, start time and timeline produce the same records: all randomness comes
from one `random.Random(seed)`, and ids are derived from the seed and counters.
"""

from __future__ import annotations

import math
from heapq import heappop, heappush
from random import Random
from typing import Iterator

from .compiled import CompiledFeature, CompiledIntent, CompiledProfile
from .profile import LogNormal, ModelChoice
from .timeline import Timeline

# Seconds a failed call takes before the gateway receives the error.
ERROR_LATENCY_SECONDS = {
    "rate_limit": 0.05,
    "timeout": 30.0,
    "server_error": 2.0,
    "client_error": 0.1,
    "content_filter": 1.0,
}
MODEL_BASE_LATENCY_SECONDS = 0.3
# Output streaming speed used for call latency, in seconds per output token.
SECONDS_PER_OUTPUT_TOKEN = 0.012
# OpenAI caches prompts of at least 1,024 tokens, in increments of 128 tokens.
OPENAI_CACHE_MIN_TOKENS = 1024
OPENAI_CACHE_INCREMENT = 128

Event = tuple[float, dict]


def draw_lognormal(rng: Random, shape: LogNormal, multiplier: float = 1.0) -> int:
    value = round(shape.median * multiplier * math.exp(shape.sigma * rng.gauss(0.0, 1.0)))
    return min(max(value, shape.min), shape.max)


def draw_poisson(rng: Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    # Knuth's multiplication method: fine for the small means of call counts.
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class _Request:
    """Mutable state of one request while its calls are generated."""

    __slots__ = ("request_id", "attributes", "clock", "calls", "feature", "profile", "records")

    def __init__(self, request_id: str, attributes: dict, clock: float, feature, profile):
        self.request_id = request_id
        self.attributes = attributes
        self.clock = clock
        self.calls = 0
        self.feature: CompiledFeature = feature
        self.profile: CompiledProfile = profile
        self.records: list[Event] = []

    def next_call_id(self) -> str:
        self.calls += 1
        return f"{self.request_id}-{self.calls}"


class WorkloadGenerator:
    def __init__(self, timeline: Timeline, seed: int, start: float):
        self.timeline = timeline
        self.seed = seed
        self.rng = Random(seed)
        self.clock = start
        self.requests = 0
        self._id_prefix = f"sim{seed & 0xFFFFFFFF:08x}"
        self._heap: list[tuple[float, int, dict]] = []
        self._sequence = 0
        # (model, prompt prefix hash) -> event time of its last use. Providers keep a
        # prompt cache per model, so a prefix is warm only for the model that last used it.
        self._prefix_last_use: dict[tuple[str, str], float] = {}

    def events(self, end: float | None = None) -> Iterator[Event]:
        """Yield (ts, record) in non-decreasing ts, forever or until requests stop at `end`.

        Each record is a dict whose first key is "ts" with the value None; the writer
        fills it in. Requests that start before `end` are yielded in full, so a few
        records may have a ts after `end`.
        """
        heap = self._heap
        while True:
            arrival = self._next_arrival()
            if end is not None and arrival >= end:
                break
            while heap and heap[0][0] <= arrival:
                ts, _, record = heappop(heap)
                yield ts, record
            self._generate_request(arrival)
        while heap:
            ts, _, record = heappop(heap)
            yield ts, record

    def _next_arrival(self) -> float:
        rng = self.rng
        while True:
            rate = self.timeline.profile_at(self.clock).request_rate(self.clock)
            if rate > 0:
                self.clock += rng.expovariate(rate)
                return self.clock
            # No traffic at this hour: move to the next hour boundary.
            self.clock = (math.floor(self.clock / 3600.0) + 1) * 3600.0

    def _generate_request(self, arrival: float) -> None:
        rng = self.rng
        profile = self.timeline.profile_at(arrival)
        feature = profile.pick_feature(rng)
        intent = feature.pick_intent(rng)
        cohort = profile.pick_cohort(rng)
        user_index, token_multiplier = cohort.pick_user(rng)
        customers = cohort.cohort.customers
        self.requests += 1
        request_id = f"{self._id_prefix}-{self.requests:09d}"
        attributes = {
            "user_id": f"{cohort.name}-user-{user_index}",
            "cohort": cohort.name,
            "feature": feature.name,
            "intent": intent.name,
            "cost_center": feature.feature.cost_center,
            "product_line": feature.feature.product_line,
            "customer_id": f"customer-{user_index % customers:03d}" if customers else "",
            "api_key_id": feature.feature.api_key_id,
        }
        request = _Request(request_id, attributes, arrival, feature, profile)
        self._run_workflow(request, intent, token_multiplier)
        for ts, record in request.records:
            self._push(ts, record)
        # Pushed last, so it follows the final call even when both have the same ts.
        self._push(request.clock, {"ts": None, "request_id": request_id, "kind": "request_end"})

    def _push(self, ts: float, record: dict) -> None:
        self._sequence += 1
        heappush(self._heap, (ts, self._sequence, record))

    def _run_workflow(self, request: _Request, intent: CompiledIntent, token_multiplier: float) -> None:
        rng = self.rng
        spec = intent.intent
        model = intent.pick_model(rng)
        planned = 1 + draw_poisson(rng, spec.model_calls_mean - 1.0)
        planned = min(planned, spec.model_calls_max)
        tool_probability = spec.tool_call_probability
        if spec.loop is not None and rng.random() < spec.loop.probability:
            planned = spec.loop.model_calls
            tool_probability = 1.0

        cache = request.feature.cache
        prefix_hash = request.feature.prefix_hash(request.clock) if cache.prefix_tokens else ""
        cache_key = (model.model, prefix_hash)
        # Conversation tokens after the cached prefix: the user's message, then model
        # outputs and tool results as the workflow goes on.
        conversation = draw_lognormal(rng, spec.input_tokens, token_multiplier)
        # What a cache hit can serve on this call: the prefix on the first call, then the
        # prompt up to the previous call's cache breakpoint.
        cacheable = cache.prefix_tokens
        cache_breakpoint = cache.prefix_tokens
        for step in range(planned):
            if step == 0 and prefix_hash:
                last_use = self._prefix_last_use.get(cache_key)
                warm = last_use is not None and request.clock - last_use <= cache.ttl_seconds
                hit = warm and rng.random() < cache.hit_rate
            else:
                hit = rng.random() < cache.followup_hit_rate
            output = draw_lognormal(rng, spec.output_tokens, token_multiplier)
            prompt = cache.prefix_tokens + conversation
            if step > 0 and cache.followup_hit_rate > 0:
                # Later calls of a workflow cache the whole conversation so far.
                cache_breakpoint = prompt
            cache_read = cacheable if hit else 0
            ok = self._model_call(request, model, prompt, cache_read, cache_breakpoint, output, prefix_hash)
            if prefix_hash:
                self._prefix_last_use[cache_key] = request.clock
            if not ok:
                return  # the request failed and its workflow stops
            # OpenAI caches every prompt automatically, Anthropic up to the breakpoint.
            cacheable = cache_breakpoint if model.provider == "anthropic" else prompt
            conversation += output
            if step < planned - 1 and request.feature.tools and rng.random() < tool_probability:
                conversation += self._tool_calls(request, rng.randint(1, spec.tool_calls_max))

    def _model_call(
        self,
        request: _Request,
        model: ModelChoice,
        prompt: int,
        cache_read: int,
        cache_breakpoint: int,
        output: int,
        prefix_hash: str,
    ) -> bool:
        """Generate one model call with its retries; return whether it finally succeeded.

        `cache_breakpoint` is the position, in tokens, of the prompt's cache_control marker
        (Anthropic).
        """
        rng = self.rng
        profile = request.profile
        provider = model.provider
        if provider == "anthropic":
            # Anthropic writes the prompt up to the breakpoint, minus what it read, to the
            # cache, and bills the tokens after the breakpoint as input.
            cache_write = cache_breakpoint - cache_read
        else:
            # OpenAI and others cache automatically and do not bill cache writes.
            if cache_read < OPENAI_CACHE_MIN_TOKENS:
                cache_read = 0
            cache_read -= cache_read % OPENAI_CACHE_INCREMENT
            cache_write = 0
        input_tokens = prompt - cache_read - cache_write
        reasoning = round(output * model.reasoning_share)

        retries = profile.retries
        attempt = 1
        retry_of = ""
        while True:
            error_class = profile.draw_error(rng, provider)
            call_id = request.next_call_id()
            record = {
                "ts": None,
                "request_id": request.request_id,
                "call_id": call_id,
                "kind": "model",
                "provider": provider,
                "model": model.model,
            }
            if retry_of:
                record["retry_of"] = retry_of
            if not error_class:
                request.clock += MODEL_BASE_LATENCY_SECONDS + output * SECONDS_PER_OUTPUT_TOKEN
                self._add_tokens(record, input_tokens, cache_read, cache_write, output, reasoning)
                self._finish(request, record, "ok", "", attempt, prefix_hash)
                return True

            billed = profile.billed.get(error_class)
            in_share = billed.input if billed else 0.0
            out_share = billed.output if billed else 0.0
            billed_output = round(output * out_share)
            self._add_tokens(
                record,
                round(input_tokens * in_share),
                round(cache_read * in_share),
                round(cache_write * in_share),
                billed_output,
                min(round(reasoning * out_share), billed_output),
            )
            request.clock += ERROR_LATENCY_SECONDS.get(error_class, 1.0)
            self._finish(request, record, "error", error_class, attempt, prefix_hash)
            if error_class not in retries.retryable or attempt >= retries.max_attempts:
                return False
            # Exponential backoff with full jitter.
            request.clock += rng.random() * retries.backoff_seconds * 2 ** (attempt - 1)
            attempt += 1
            retry_of = call_id

    @staticmethod
    def _add_tokens(record: dict, input_tokens, cache_read, cache_write, output, reasoning) -> None:
        record["input_tokens"] = input_tokens
        record["cache_read_tokens"] = cache_read
        record["cache_write_tokens"] = cache_write
        record["output_tokens"] = output
        record["reasoning_tokens"] = reasoning

    @staticmethod
    def _finish(request: _Request, record: dict, status: str, error_class: str, attempt: int, prefix_hash: str):
        record["status"] = status
        if error_class:
            record["error_class"] = error_class
        record["attempt"] = attempt
        record.update(request.attributes)
        if prefix_hash:
            record["prompt_prefix_hash"] = prefix_hash
        request.records.append((request.clock, record))

    def _tool_calls(self, request: _Request, count: int) -> int:
        """Generate `count` sequential tool calls; return the result tokens they add."""
        rng = self.rng
        tools = request.feature.tools
        added = 0
        for _ in range(count):
            tool = tools[int(rng.random() * len(tools))]
            retry_of = ""
            for attempt in (1, 2):  # a failed tool call is retried once
                call_id = request.next_call_id()
                failed = rng.random() < tool.error_rate
                request.clock += tool.latency_seconds
                record = {
                    "ts": None,
                    "request_id": request.request_id,
                    "call_id": call_id,
                    "kind": "tool",
                    "tool": tool.name,
                }
                if retry_of:
                    record["retry_of"] = retry_of
                record["status"] = "error" if failed else "ok"
                if failed:
                    record["error_class"] = "tool_error"
                record["attempt"] = attempt
                record.update(request.attributes)
                request.records.append((request.clock, record))
                if not failed:
                    added += draw_lognormal(rng, tool.result_tokens)
                    break
                retry_of = call_id
        return added
