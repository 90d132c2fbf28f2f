from __future__ import annotations

import random
from datetime import datetime, timezone

import orjson
import pytest

from llm_cost_exporter.aggregation import Aggregator, SnapshotBuilder, export_state, restore_state
from llm_cost_exporter.aggregation.aggregator import CALLS_ERROR, CALLS_OK, INPUT, INPUT_USD, OUTPUT_USD
from llm_cost_exporter.aggregation.budgets import period_bounds
from llm_cost_exporter.aggregation.histograms import COST_BUCKETS
from llm_cost_exporter.aggregation.labels import OVERFLOW
from llm_cost_exporter.config import parse_config
from llm_cost_exporter.events import CallEvent
from llm_cost_exporter.formats import make_parser
from llm_cost_exporter.formats.base import REJECT_REASONS
from llm_cost_exporter.ingest import RecordIngestor

T0 = datetime(2026, 12, 1, 10, tzinfo=timezone.utc).timestamp()
PRICED = """
pricing:
  overrides:
    - {provider: p, model: m, input: 1000000, cache_read: 500000, cache_write: 2000000, output: 4000000}
"""


def aggregator(extra: str = "") -> Aggregator:
    return Aggregator(parse_config(PRICED + extra))


def call(ts: float = T0, request_id: str = "", kind: str = "model", **fields) -> CallEvent:
    defaults = {"provider": "p", "model": "m"} if kind == "model" else {}
    return CallEvent(ts=ts, kind=kind, request_id=request_id, **{**defaults, **fields})


def closed_requests(agg: Aggregator) -> dict[tuple, list[float]]:
    """(feature, intent, cohort) -> [count, sum] of the request cost histogram."""
    return {key: [h[-1], h[-2]] for key, h in agg.request_cost.items()}


def test_cost_by_token_type():
    agg = aggregator()
    agg.ingest(call(input_tokens=2, cache_read_tokens=4, cache_write_tokens=1, output_tokens=3))
    [values] = agg.model_series.values()
    assert values[INPUT] == 2
    assert values[INPUT_USD:OUTPUT_USD + 1] == [2.0, 2.0, 2.0, 12.0]
    assert values[CALLS_OK] == 1


def test_one_hour_cache_writes_priced_separately():
    agg = aggregator("""    - {provider: p, model: h, input: 1000000, output: 0, cache_write: 2000000, cache_write_1h: 3000000}
""")
    agg.ingest(call(model="h", cache_write_tokens=5, cache_write_1h_tokens=2))
    values = agg.model_series[("p", "h", "", "", "", "", "")]
    assert values[INPUT_USD + 2] == 3 * 2.0 + 2 * 3.0


def test_custom_attribution_label_counted():
    agg = aggregator("labels: {attribution: [feature, team]}\n")
    agg.ingest(call(input_tokens=2, feature="f", extra_attributes={"team": "search"}))
    agg.ingest(call(input_tokens=3, feature="f"))
    assert agg.model_series[("p", "m", "f", "search")][INPUT] == 2
    assert agg.model_series[("p", "m", "f", "")][INPUT] == 3


def test_rejection_counters_start_at_zero():
    agg = aggregator()
    RecordIngestor("gateway", make_parser("native", agg.attribution), agg).ingest([b"not json"])
    assert agg.rejected[("gateway", "invalid_json")] == 1.0
    assert {reason for (_, reason), count in agg.rejected.items() if count == 0} == set(REJECT_REASONS) - {"invalid_json"}
    assert agg.events[("gateway", "accepted")] == 0.0


def test_request_closed_by_request_end():
    agg = aggregator()
    agg.ingest(call(T0, "r1", input_tokens=1, feature="f", intent="i", cohort="c"))
    agg.ingest(call(T0 + 1, "r1", kind="tool", tool="web", feature="f"))
    agg.ingest(call(T0 + 2, "r1", output_tokens=1, feature="f", intent="i", cohort="c"))
    assert agg.request_cost == {}
    agg.ingest(call(T0 + 3, "r1", kind="request_end"))
    assert closed_requests(agg) == {("f", "i", "c"): [1, 5.0]}
    assert agg.request_model_calls[("f", "i")][-1] == 1
    assert agg.request_model_calls[("f", "i")][-2] == 2
    assert agg.request_tool_calls[("f", "i")][-2] == 1


def test_request_closed_by_idle_timeout_in_event_time():
    agg = aggregator("requests: {idle_timeout: 60s}\n")
    agg.ingest(call(T0, "r1", input_tokens=1))
    agg.ingest(call(T0 + 59, "r2", input_tokens=1))
    agg.advance()
    assert agg.request_cost == {}
    agg.ingest(call(T0 + 60, "r2", input_tokens=1))
    agg.advance()
    assert closed_requests(agg) == {("", "", ""): [1, 1.0]}


def test_call_after_idle_gap_starts_new_request():
    agg = aggregator("requests: {idle_timeout: 60s}\n")
    agg.ingest(call(T0, "r1", input_tokens=1))
    agg.ingest(call(T0 + 61, "r1", input_tokens=1))
    agg.flush()
    assert closed_requests(agg) == {("", "", ""): [2, 2.0]}


def test_call_without_request_id_is_own_request():
    agg = aggregator()
    agg.ingest(call(input_tokens=1))
    agg.ingest(call(input_tokens=2))
    assert closed_requests(agg) == {("", "", ""): [2, 3.0]}


def test_request_labels_from_first_nonempty_values():
    agg = aggregator()
    agg.ingest(call(T0, "r1", input_tokens=1, feature="search"))
    agg.ingest(call(T0 + 1, "r1", input_tokens=1, feature="other", intent="lookup", cohort="pro"))
    agg.flush()
    assert closed_requests(agg) == {("search", "lookup", "pro"): [1, 2.0]}


def random_log(seed: int, requests: int = 300) -> list[CallEvent]:
    rng = random.Random(seed)
    events = []
    for number in range(requests):
        start = T0 + number * rng.uniform(0, 20)
        for index in range(rng.randint(1, 4)):
            events.append(call(start + index * rng.uniform(0, 50), f"r{number}", input_tokens=rng.randint(1, 9),
                               feature=rng.choice("ab"), intent=rng.choice("xyz")))
        if rng.random() < 0.5:
            events.append(call(start + 200, f"r{number}", kind="request_end"))
    events.sort(key=lambda event: event.ts)
    return events


@pytest.mark.parametrize("batch", [1, 7, 64, 1000])
def test_results_independent_of_batching(batch):
    events = random_log(3)
    reference = aggregator("requests: {idle_timeout: 60s}\n")
    for event in events:
        reference.ingest(event)
        reference.advance()
    reference.flush()

    agg = aggregator("requests: {idle_timeout: 60s}\n")
    for start in range(0, len(events), batch):
        agg.ingest_batch(events[start:start + batch], 0.0)
        agg.advance()
    agg.flush()

    assert agg.request_cost == reference.request_cost
    assert agg.request_model_calls == reference.request_model_calls


def test_retry_counted_by_class_of_retried_attempt():
    agg = aggregator()
    agg.ingest(call(T0, "r1", call_id="c1", status="error", error_class="timeout", input_tokens=3, feature="f"))
    agg.ingest(call(T0 + 1, "r1", call_id="c2", retry_of="c1", attempt=2, status="error",
                    error_class="rate_limit", feature="f"))
    agg.ingest(call(T0 + 2, "r1", call_id="c3", retry_of="c2", attempt=3, input_tokens=3, feature="f"))
    assert agg.retries == {("p", "m", "timeout", "f"): 1.0, ("p", "m", "rate_limit", "f"): 1.0}
    assert agg.retry_cost == {("p", "timeout", "f"): 3.0, ("p", "rate_limit", "f"): 0.0}
    [values] = agg.model_series.values()
    assert values[CALLS_ERROR] == 2
    assert values[CALLS_OK] == 1


def test_retry_of_unknown_attempt_is_other():
    agg = aggregator()
    agg.ingest(call(attempt=2, feature="f"))
    assert agg.retries == {("p", "m", "other", "f"): 1.0}
    assert agg.retry_cost == {}


def test_failed_attempt_cost_counted_once():
    agg = aggregator()
    agg.ingest(call(T0, "r1", call_id="c1", status="error", error_class="timeout", input_tokens=3))
    agg.ingest(call(T0 + 1, "r1", call_id="c2", retry_of="c1", attempt=2))
    agg.ingest(call(T0 + 2, "r1", call_id="c3", retry_of="c1", attempt=2))
    assert agg.retry_cost == {("p", "timeout", ""): 3.0}


def test_tool_calls_by_tool_and_status():
    agg = aggregator()
    agg.ingest(call(kind="tool", tool="web", feature="f"))
    agg.ingest(call(kind="tool", tool="web", status="error", error_class="tool_error", feature="f"))
    assert agg.tool_calls == {("web", "ok", "f"): 1.0, ("web", "error", "f"): 1.0}


def test_label_limit_overflows_and_counts():
    agg = aggregator("labels: {limits: {intent: 2}}\n")
    for index in range(5):
        agg.ingest(call(input_tokens=1, intent=f"i{index}"))
    agg.ingest(call(input_tokens=1, intent="i0"))
    intents = sorted(key[3] for key in agg.model_series)
    assert intents == [OVERFLOW, "i0", "i1"]
    assert agg.model_series[("p", "m", "", OVERFLOW, "", "", "")][INPUT] == 3
    assert agg.limiter.overflows == {"intent": 3.0}


def test_unpriced_model_counts_tokens_at_zero_cost():
    agg = aggregator()
    agg.ingest(call(provider="acme", model="mystery-9", input_tokens=5, output_tokens=2))
    [values] = agg.model_series.values()
    assert values[INPUT] == 5
    assert values[INPUT_USD:OUTPUT_USD + 1] == [0.0, 0.0, 0.0, 0.0]
    assert agg.unpriced_tokens == {("acme", "mystery-9"): 7.0}


def test_alias_resolved_in_model_label():
    agg = aggregator("  aliases: {prod-deployment: m}\n")
    agg.ingest(call(model="prod-deployment", input_tokens=1))
    assert list(agg.model_series) == [("p", "m", "", "", "", "", "")]
    assert agg.model_series[("p", "m", "", "", "", "", "")][INPUT_USD] == 1.0


def test_budget_spend_per_period_and_match():
    agg = aggregator("budgets: [{name: s, match: {feature: search}, period: day, amount_usd: 10}]\n")
    agg.ingest(call(T0, input_tokens=2, feature="search"))
    agg.ingest(call(T0 + 1, input_tokens=5, feature="chat"))
    [budget] = agg.budgets
    assert budget.spend == 2.0
    agg.ingest(call(T0 + 86400, input_tokens=3, feature="search"))
    assert budget.spend == 3.0
    assert budget.start == datetime(2026, 12, 2, tzinfo=timezone.utc).timestamp()
    agg.ingest(call(T0, input_tokens=4, feature="search"))  # late, for the previous day
    assert budget.spend == 3.0
    assert budget.late_usd == 4.0


def test_budget_rolls_on_wall_clock():
    agg = aggregator("budgets: [{name: s, period: day, amount_usd: 10}]\n")
    agg.ingest(call(T0, input_tokens=2))
    agg.advance(wall_clock=T0 + 86400)
    assert agg.budgets[0].spend == 0.0


@pytest.mark.parametrize(("ts", "period", "zone", "start", "end"), [
    ("2026-12-31T23:30:00+00:00", "month", "UTC", "2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"),
    ("2026-12-04T12:00:00+00:00", "week", "UTC", "2026-11-30T00:00:00+00:00", "2026-12-07T00:00:00+00:00"),
    ("2026-03-29T12:00:00+02:00", "day", "Europe/Berlin", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"),
    ("2026-10-01T03:30:00+00:00", "month", "America/New_York", "2026-09-01T00:00:00-04:00",
     "2026-10-01T00:00:00-04:00"),
])
def test_period_bounds(ts, period, zone, start, end):
    from zoneinfo import ZoneInfo
    bounds = period_bounds(datetime.fromisoformat(ts).timestamp(), period, ZoneInfo(zone))
    assert bounds == (datetime.fromisoformat(start).timestamp(), datetime.fromisoformat(end).timestamp())


def test_user_spend_quantiles_and_top_users():
    agg = aggregator("cohorts: {windows: [1h], top_k: 2}\n")
    for index in range(1, 11):
        agg.ingest(call(T0, input_tokens=index, user_id=f"u{index}", cohort="pro"))
    agg.ingest(call(T0, input_tokens=90, user_id="u10", cohort="pro"))
    agg.advance()
    snapshot = SnapshotBuilder(lambda user: f"x-{user}").build(agg)
    active, total, quantiles, top = snapshot.users[("pro", "1h")]
    assert active == 10
    assert total == 145.0
    assert quantiles == [5.0, 9.0, 100.0, 100.0, 100.0]
    assert top == [("x-u10", 100.0), ("x-u9", 9.0)]


def test_user_spend_leaves_window():
    agg = aggregator("cohorts: {windows: [1h]}\n")
    agg.ingest(call(T0, input_tokens=5, user_id="u1"))
    agg.ingest(call(T0 + 1800, input_tokens=1, user_id="u2"))
    agg.advance()
    assert len(agg.windows[3600.0].totals) == 2
    agg.advance(wall_clock=T0 + 3600 + 60)
    assert agg.windows[3600.0].spend_by_user() == {("", "u2"): 1.0}
    agg.advance(wall_clock=T0 + 7200 + 60)
    assert agg.windows[3600.0].totals == {}


def test_prompt_prefixes_absent_without_hashes():
    agg = aggregator()
    agg.ingest(call(input_tokens=1, feature="plain"))
    agg.ingest(call(input_tokens=1, feature="hashed", prompt_prefix_hash="h0"))
    features = {feature for feature, _ in agg.prefixes.counts(agg.clock)}
    assert features == {"hashed"}


def test_prompt_prefixes_counted_per_window():
    agg = aggregator("prefixes: {windows: [1h, 24h]}\n")
    for index in range(5):
        agg.ingest(call(T0 + index * 1800, input_tokens=1, feature="f", prompt_prefix_hash=f"h{index}"))
    agg.ingest(call(T0 + 4 * 1800, input_tokens=1, feature="f", prompt_prefix_hash="h0"))
    counts = agg.prefixes.counts(agg.clock)
    assert counts[("f", 3600.0)] == 3  # h3 at +1.5h, h4 and h0 at +2h
    assert counts[("f", 86400.0)] == 5


def test_state_round_trip_restores_everything():
    events = random_log(5)
    config = PRICED + "budgets: [{name: all, period: month, amount_usd: 10}]\n"
    agg = Aggregator(parse_config(config))
    for index, event in enumerate(events):
        event.user_id = f"u{index % 7}"
        if index % 11 == 0:
            event.status, event.error_class, event.call_id = "error", "timeout", f"c{index}"
    agg.ingest_batch(events[:500], 0.0)
    agg.advance()

    state = orjson.loads(orjson.dumps(export_state(agg)))
    restored = Aggregator(parse_config(config))
    assert restore_state(restored, state) == []
    assert orjson.loads(orjson.dumps(export_state(restored))) == state

    for target in (agg, restored):
        target.ingest_batch(events[500:], 0.0)
        target.flush()
        target.advance()
    assert restored.request_cost == agg.request_cost
    assert restored.model_series == agg.model_series
    assert restored.budgets[0].spend == agg.budgets[0].spend
    assert restored.windows[3600.0].totals == agg.windows[3600.0].totals


def test_restore_rejects_changed_attribution():
    agg = aggregator()
    agg.ingest(call(input_tokens=1))
    state = export_state(agg)
    other = Aggregator(parse_config(PRICED + "labels: {attribution: [feature]}\n"))
    warnings = restore_state(other, state)
    assert "labels.attribution changed" in warnings[0]
    assert other.model_series == {}


def test_cost_buckets_cover_design_range():
    assert COST_BUCKETS[0] == 0.0001
    assert COST_BUCKETS[-1] == 100.0


def test_user_spend_added_when_request_closes():
    agg = aggregator("cohorts: {windows: [1h, 24h]}\n")
    agg.ingest(call(T0, "r1", input_tokens=2, user_id="u1", cohort="pro"))
    agg.ingest(call(T0 + 5, "r1", kind="tool", tool="web", user_id="u1"))
    agg.ingest(call(T0 + 9, "r1", input_tokens=3, cohort="pro"))
    agg.advance()
    assert agg.windows[3600.0].spend_by_user() == {}
    agg.ingest(call(T0 + 10, "r1", kind="request_end"))
    agg.advance()
    for window in agg.windows.values():
        assert window.spend_by_user() == {("pro", "u1"): 5.0}
