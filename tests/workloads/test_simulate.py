"""The simulator: native format of every line, determinism and the statistical shape."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timezone

import pytest
from genai_prices import Usage, calc_price

from llm_cost_exporter.events import ERROR_CLASSES

from .conftest import START, read_lines, run_cli

RFC3339_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TOKEN_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
ATTRIBUTION = ("user_id", "cohort", "feature", "intent", "cost_center", "product_line", "customer_id", "api_key_id")
NATIVE_FIELDS = {
    "ts", "request_id", "call_id", "retry_of", "kind", "provider", "model", *TOKEN_FIELDS, "status",
    "error_class", "attempt", "tool", *ATTRIBUTION, "prompt_prefix_hash", "cost_usd",
}  # fmt: skip


def test_lines_follow_native_format(sample_file):
    records = read_lines(sample_file)
    assert len(records) == 20000
    previous_ts = ""
    for record in records:
        assert set(record) <= NATIVE_FIELDS, record
        assert RFC3339_MS.match(record["ts"]), record
        assert record["ts"] >= previous_ts, "lines are not in event-time order"
        previous_ts = record["ts"]
        assert record["kind"] in {"model", "tool", "request_end"}
        assert record["request_id"]
        if record["kind"] == "request_end":
            continue
        assert record["call_id"].startswith(record["request_id"] + "-")
        assert record["status"] in {"ok", "error"}
        assert isinstance(record["attempt"], int) and record["attempt"] >= 1
        if record["status"] == "error":
            assert record["error_class"] in ERROR_CLASSES
        else:
            assert "error_class" not in record
        for name in ATTRIBUTION:
            assert isinstance(record[name], str)


def test_model_calls_have_disjoint_tokens(sample_file):
    for record in read_lines(sample_file):
        if record["kind"] != "model":
            continue
        assert record["provider"] and record["model"]
        for name in TOKEN_FIELDS:
            assert isinstance(record[name], int) and record[name] >= 0, record
        assert record["reasoning_tokens"] <= record["output_tokens"], record
        if record["status"] == "ok":
            assert record["input_tokens"] + record["cache_read_tokens"] + record["cache_write_tokens"] > 0


def test_models_are_priced_by_genai_prices(default_profile):
    models = {
        (model.provider, model.model)
        for feature in default_profile.features
        for intent in feature.intents
        for model in intent.models
    }
    for provider, model in sorted(models):
        price = calc_price(Usage(input_tokens=1000, output_tokens=1000), model_ref=model, provider_id=provider)
        assert price.total_price > 0, (provider, model)


def test_retries_name_the_failed_call(sample_file):
    calls = {}
    for record in read_lines(sample_file):
        if record["kind"] == "request_end":
            continue
        calls[record["call_id"]] = record
        if record["attempt"] == 1:
            assert "retry_of" not in record
            continue
        failed = calls[record["retry_of"]]
        assert failed["status"] == "error"
        assert failed["request_id"] == record["request_id"]
        assert failed["attempt"] == record["attempt"] - 1
        assert failed["ts"] <= record["ts"]


def test_each_request_ends_once_after_its_calls(sample_file):
    ended = set()
    for record in read_lines(sample_file):
        request_id = record["request_id"]
        assert request_id not in ended, f"line of {request_id} after its request_end"
        if record["kind"] == "request_end":
            ended.add(request_id)
    assert len(ended) > 5000


def test_same_seed_same_bytes(tmp_path):
    first, second, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert run_cli("simulate", "--seed", "5", "--start", START, "--events", "3000", "--output", first) == 0
    assert run_cli("simulate", "--seed", "5", "--start", START, "--events", "3000", "--output", second) == 0
    assert run_cli("simulate", "--seed", "6", "--start", START, "--events", "3000", "--output", other) == 0
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_start_sets_first_request_time(tmp_path):
    path = tmp_path / "gateway.jsonl"
    assert run_cli("simulate", "--start", "2026-03-01T12:00:00+02:00", "--events", "10", "--output", path) == 0
    first = read_lines(path)[0]["ts"]
    assert first.startswith("2026-03-01T10:00:")


def test_days_stop_new_requests_at_the_end(tmp_path, default_profile):
    path = tmp_path / "gateway.jsonl"
    assert run_cli("simulate", "--start", START, "--days", "0.1", "--request-rate", "2", "--output", path) == 0
    records = read_lines(path)
    # 0.1 day at 2 requests per second, times a midnight seasonality factor of about 0.35.
    requests = sum(1 for r in records if r["kind"] == "request_end")
    assert 3000 < requests < 8000
    first_call_ts = {}
    for record in records:
        first_call_ts.setdefault(record["request_id"], record["ts"])
    assert max(first_call_ts.values()) < "2026-11-02T02:25:00"


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("simulate", "--events", "10", "--rate", "5")
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        run_cli("simulate", "--events", "10", "--duration", "5s")
    with pytest.raises(SystemExit):
        run_cli("simulate", "--rate", "5", "--start", START)
    with pytest.raises(SystemExit):
        run_cli("simulate", "--rate", "5", "--scenario", "retry-storm")
    with pytest.raises(SystemExit):
        run_cli("simulate", "--events", "5", "--scenario", "retry-storm")
    with pytest.raises(SystemExit):
        run_cli("simulate", "--events", "0")
    assert "expected a positive integer, got '0'" in capsys.readouterr().err


def test_invalid_profile_is_reported(tmp_path, caplog):
    profile = tmp_path / "profile.yaml"
    profile.write_text("requests_per_second: -1\nfeatures: []\ncohorts: [{name: a, weight: 1, users: 10}]\n")
    assert run_cli("simulate", "--profile", profile, "--events", "10", "--output", tmp_path / "x") == 2
    assert "invalid workload profile" in caplog.text
    assert "requests_per_second: Input should be greater than 0" in caplog.text
    assert "features: Tuple should have at least 1 item" in caplog.text


# Statistical shape of one simulated weekday.


def test_users_follow_power_law(one_day):
    requests_by_user = Counter(r["user_id"] for r in one_day if r["kind"] == "model" and r["cohort"] == "free")
    counts = sorted(requests_by_user.values(), reverse=True)
    top_share = sum(counts[: len(counts) // 100]) / sum(counts)
    assert top_share > 0.25, f"top 1% of free users make {top_share:.0%} of calls"
    # Most users appear rarely: the median user makes only a few calls a day.
    assert counts[len(counts) // 2] <= 3


def test_cohorts_and_features_are_mixed(one_day):
    requests = [r for r in one_day if r["kind"] == "model" and r["attempt"] == 1]
    cohorts = Counter(r["cohort"] for r in requests)
    features = Counter(r["feature"] for r in requests)
    assert set(cohorts) == {"free", "pro", "enterprise"}
    assert set(features) == {"search", "support-agent", "code-assistant", "contract-review"}
    enterprise = [r for r in requests if r["cohort"] == "enterprise"]
    assert all(r["customer_id"].startswith("customer-") for r in enterprise)
    assert all(r["customer_id"] == "" for r in requests if r["cohort"] == "free")


def test_retries_follow_error_class(one_day):
    retried_classes = Counter()
    calls = {r["call_id"]: r for r in one_day if r["kind"] != "request_end"}
    for record in calls.values():
        if record.get("retry_of"):
            retried_classes[calls[record["retry_of"]]["error_class"]] += 1
    assert retried_classes["rate_limit"] > 100
    assert retried_classes["timeout"] > 20
    assert retried_classes["server_error"] > 10
    assert retried_classes["tool_error"] > 10
    assert retried_classes["client_error"] == 0
    assert retried_classes["content_filter"] == 0
    assert max(r["attempt"] for r in calls.values() if r["kind"] == "model") == 3


def test_failed_timeouts_are_billed(one_day):
    timeouts = [r for r in one_day if r.get("error_class") == "timeout"]
    rate_limits = [r for r in one_day if r.get("error_class") == "rate_limit"]
    assert all(r["input_tokens"] + r["cache_read_tokens"] + r["cache_write_tokens"] > 0 for r in timeouts)
    assert all(r["input_tokens"] == r["output_tokens"] == 0 for r in rate_limits)


def test_agent_workflows_call_tools(one_day):
    model_calls = Counter()
    tool_calls = Counter()
    for record in one_day:
        if record["kind"] == "model":
            model_calls[record["request_id"]] += 1
        elif record["kind"] == "tool":
            tool_calls[record["request_id"]] += 1
            assert record["tool"]
            assert "provider" not in record
    resolve = {r["request_id"] for r in one_day if r.get("intent") == "resolve"}
    triage = {r["request_id"] for r in one_day if r.get("intent") == "triage"}
    mean_resolve_calls = sum(model_calls[r] for r in resolve) / len(resolve)
    assert 2.5 < mean_resolve_calls < 3.8
    assert max(model_calls[r] for r in resolve) >= 8
    assert sum(tool_calls[r] for r in resolve) / len(resolve) > 1.0
    assert all(tool_calls[r] == 0 for r in triage)
    tools = Counter(r["tool"] for r in one_day if r["kind"] == "tool")
    assert {"web_search", "kb_search", "get_order", "vector_search"} <= set(tools)


def test_prompt_cache_reads_and_writes(one_day):
    ok_calls = [r for r in one_day if r["kind"] == "model" and r["status"] == "ok"]
    by_provider = defaultdict(Counter)
    for record in ok_calls:
        tokens = by_provider[record["provider"]]
        for name in ("input_tokens", "cache_read_tokens", "cache_write_tokens"):
            tokens[name] += record[name]
    for provider in ("openai", "anthropic"):
        tokens = by_provider[provider]
        ratio = tokens["cache_read_tokens"] / sum(tokens.values())
        assert 0.2 < ratio < 0.9, f"{provider} cache-hit ratio {ratio:.2f}"
    assert by_provider["openai"]["cache_write_tokens"] == 0
    assert by_provider["anthropic"]["cache_write_tokens"] > 0
    # OpenAI serves cached prompts in 128-token increments from 1,024 tokens.
    openai_reads = [r["cache_read_tokens"] for r in ok_calls if r["provider"] == "openai" and r["cache_read_tokens"]]
    assert all(tokens >= 1024 and tokens % 128 == 0 for tokens in openai_reads)


def test_prefix_hash_is_stable_per_feature(one_day):
    hashes = defaultdict(set)
    for record in one_day:
        if record["kind"] == "model":
            hashes[record["feature"]].add(record["prompt_prefix_hash"])
    assert all(len(values) == 1 for values in hashes.values()), hashes
    assert len({next(iter(values)) for values in hashes.values()}) == len(hashes)


def test_reasoning_tokens_only_on_reasoning_models(one_day):
    reasoning = Counter(r["model"] for r in one_day if r["kind"] == "model" and r["reasoning_tokens"] > 0)
    assert set(reasoning) == {"o3-mini"}


def test_request_rate_follows_time_of_day(one_day):
    starts = {}
    for record in one_day:
        starts.setdefault(record["request_id"], record["ts"])
    by_hour = Counter(datetime.fromtimestamp(ts, timezone.utc).hour for ts in starts.values())
    assert by_hour[14] > 3 * by_hour[3]
    # 0.5 requests per second on average, times 1.1 for a Monday.
    assert 0.5 * 86400 < len(starts) < 0.6 * 86400


def test_writes_to_stdout_by_default(capsysbinary):
    assert run_cli("simulate", "--start", START, "--events", "5") == 0
    lines = capsysbinary.readouterr().out.splitlines()
    assert len(lines) == 5
    assert all(line.startswith(b'{"ts":"2026-11-02T') for line in lines)
