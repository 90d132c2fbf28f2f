"""OpenAI usage and costs against a loopback server that pages, revises, throttles and fails."""

from __future__ import annotations

import logging

import pytest

from llm_cost_exporter.config.sources import OpenAIUsageSourceConfig
from llm_cost_exporter.vendors.openai import OpenAIUsagePoller

from .conftest import DAY, HOUR, T0, by_family
from .fakes import Fault, FakeOpenAI

KEY = "sk-admin-test-5f0c1e9a7b2d4c68"
H0 = int(T0 - T0 % HOUR)  # 10:00, the bucket in progress
D0 = int(T0 - T0 % DAY)   # today, 00:00 UTC


def completions(model: str, project: str | None, input_tokens: int, cached: int, written: int, output: int,
                requests: int) -> dict:
    return {"input_tokens": input_tokens, "input_cached_tokens": cached, "input_cache_write_tokens": written,
            "output_tokens": output, "num_model_requests": requests, "project_id": project, "model": model,
            "user_id": None, "api_key_id": None, "batch": None, "service_tier": None}


def cost(line_item: str, project: str | None, value: float) -> dict:
    return {"amount": {"value": value, "currency": "usd"}, "line_item": line_item, "quantity": 1.0,
            "project_id": project, "api_key_id": None}


def expected(fake: FakeOpenAI, provider: str = "openai") -> dict[str, dict]:
    """The truth the counters must equal, computed from the fake's tables independently of the poller."""
    tokens: dict = {}
    requests: dict = {}
    costs: dict = {}

    def add(table: dict, key: tuple, value: float) -> None:
        if value:
            table[key] = table.get(key, 0) + value

    for endpoint, buckets in fake.usage.items():
        for results in buckets.values():
            for r in results:
                model, project = r.get("model") or "none", r.get("project_id") or "none"
                base = (("model", model), ("project", project), ("provider", provider))
                if endpoint == "completions":
                    split = {"input": r["input_tokens"] - r["input_cached_tokens"] - r["input_cache_write_tokens"],
                             "cache_read": r["input_cached_tokens"], "cache_write": r["input_cache_write_tokens"],
                             "output": r["output_tokens"]}
                else:
                    split = {"input": r["input_tokens"]}
                for token_type, value in split.items():
                    add(tokens, tuple(sorted(base + (("token_type", token_type),))), value)
                add(requests, base, r["num_model_requests"])
    for results in fake.costs.values():
        for r in results:
            key = (("line_item", r["line_item"]), ("project", r["project_id"] or "none"), ("provider", provider))
            add(costs, key, r["amount"]["value"])
    return {"llm_vendor_tokens": tokens, "llm_vendor_requests": requests, "llm_vendor_cost_usd": costs}


def observed(poller: OpenAIUsagePoller) -> dict[str, dict]:
    poller.publish()
    totals = poller.totals()
    return {family: by_family(totals, family)
            for family in ("llm_vendor_tokens", "llm_vendor_requests", "llm_vendor_cost_usd")}


def assert_truth(poller: OpenAIUsagePoller, fake: FakeOpenAI) -> None:
    got, want = observed(poller), expected(fake)
    for family in want:
        assert got[family] == pytest.approx(want[family], rel=1e-12), family


@pytest.fixture
def fake(clock):
    server = FakeOpenAI(KEY, clock, page_size=2)
    server.usage["completions"] = {
        H0 - 3 * HOUR: [completions("gpt-4o", "proj_a", 1000, 400, 100, 50, 3)],
        H0 - 2 * HOUR: [],  # an hour without usage
        H0 - HOUR: [completions("gpt-4o", "proj_a", 2000, 0, 0, 70, 5),
                    completions("gpt-4o-mini", None, 300, 100, 0, 20, 1)],
        H0: [completions("gpt-4o", "proj_b", 500, 0, 0, 10, 1)],
    }
    server.usage["embeddings"] = {H0 - HOUR: [{"input_tokens": 9000, "num_model_requests": 4, "project_id": "proj_a",
                                               "model": "text-embedding-3-small", "user_id": None,
                                               "api_key_id": None}]}
    server.costs = {D0 - DAY: [cost("gpt-4o, input", "proj_a", 12.5), cost("gpt-4o, output", "proj_a", 3.25)],
                    D0: [cost("gpt-4o, input", "proj_a", 1.5)]}
    yield server
    server.stop()


def make_poller(fake, hooks, **settings) -> OpenAIUsagePoller:
    if settings.get("usage") == ["completions"]:
        fake.usage["embeddings"] = {}
    if settings.get("costs") is False:
        fake.costs = {}
    config = OpenAIUsageSourceConfig(name="openai", type="openai_usage", base_url=f"{fake.url}/v1",
                                     api_key_env="TEST_OPENAI_ADMIN_KEY", lookback=6 * HOUR, max_attempts=3,
                                     timeout=0.3, **settings)
    return OpenAIUsagePoller(config, hooks)


@pytest.fixture(autouse=True)
def admin_key(monkeypatch):
    monkeypatch.setenv("TEST_OPENAI_ADMIN_KEY", KEY)


def test_first_poll_reads_every_page(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    poller.poll(clock())

    assert poller.up
    assert poller.errors == {}
    assert_truth(poller, fake)
    pages = [query.get("page") for path, query in fake.requests if path.endswith("/completions")]
    assert len(pages) == 4  # 7 hourly buckets from 04:00, two per page
    assert pages[0] is None


def test_mapping_of_one_bucket(fake, hooks, clock):
    poller = make_poller(fake, hooks, usage=["completions"], costs=False)
    poller.poll(clock())
    tokens = observed(poller)["llm_vendor_tokens"]

    key = (("model", "gpt-4o"), ("project", "proj_a"), ("provider", "openai"))
    assert tokens[tuple(sorted(key + (("token_type", "input"),)))] == 500 + 2000
    assert tokens[tuple(sorted(key + (("token_type", "cache_read"),)))] == 400
    assert tokens[tuple(sorted(key + (("token_type", "cache_write"),)))] == 100
    assert tokens[tuple(sorted(key + (("token_type", "output"),)))] == 120
    no_project = (("model", "gpt-4o-mini"), ("project", "none"), ("provider", "openai"), ("token_type", "input"))
    assert tokens[no_project] == 200


def test_request_parameters(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    poller.poll(clock())

    path, query = next(r for r in fake.requests if r[0].endswith("/completions"))
    assert query["start_time"] == [str(H0 - 6 * HOUR)]
    assert query["end_time"] == [str(int(T0))]  # clamped to now
    assert query["group_by[]"] == ["model", "project_id"]
    assert query["bucket_width"] == ["1h"]
    path, query = next(r for r in fake.requests if r[0].endswith("/costs"))
    assert query["group_by[]"] == ["project_id", "line_item"]
    assert query["start_time"] == [str(D0 - 2 * DAY)]


def test_revision_adds_only_the_difference(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    poller.poll(clock())

    fake.usage["completions"][H0] = [completions("gpt-4o", "proj_b", 800, 0, 0, 30, 2)]
    fake.costs[D0] = [cost("gpt-4o, input", "proj_a", 4.0), cost("gpt-4o, output", "proj_a", 0.75)]
    poller.poll(clock.advance(300))
    assert_truth(poller, fake)

    poller.poll(clock.advance(300))  # nothing changed: nothing added
    assert_truth(poller, fake)


def test_rate_limit_honours_retry_after(fake, hooks, clock, sleeps):
    poller = make_poller(fake, hooks)
    fake.fail_next(Fault(429, {"Retry-After": "7"}, b'{"error": {"message": "slow down"}}'))
    poller.poll(clock())

    assert sleeps.waits == [7.0]
    assert poller.up
    assert poller.errors == {"rate_limit": 1}
    assert_truth(poller, fake)


def test_server_error_then_success(fake, hooks, clock, sleeps):
    poller = make_poller(fake, hooks)
    fake.fail_next(Fault(500), Fault(503))
    poller.poll(clock())

    assert poller.up
    assert poller.errors == {"server_error": 2}
    assert len(sleeps.waits) == 2
    assert 0 <= sleeps.waits[0] <= 1.0  # full jitter under a cap that doubles per attempt
    assert 0 <= sleeps.waits[1] <= 2.0
    assert_truth(poller, fake)


def test_retries_stop_at_max_attempts(fake, hooks, clock):
    poller = make_poller(fake, hooks, usage=["completions"], costs=False)
    fake.fail_next(Fault(500), Fault(500), Fault(500))
    poller.poll(clock())

    assert not poller.up
    assert poller.errors == {"server_error": 3}
    assert observed(poller)["llm_vendor_tokens"] == {}


def test_retry_after_beyond_budget_gives_up(fake, hooks, clock, sleeps):
    poller = make_poller(fake, hooks, usage=["completions"], costs=False, retry_budget=5)
    fake.fail_next(Fault(429, {"Retry-After": "30"}))
    poller.poll(clock())

    assert not poller.up
    assert sleeps.waits == []
    assert poller.errors == {"rate_limit": 1}


def test_malformed_json_changes_nothing(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    poller.poll(clock())
    before = observed(poller)

    fake.usage["completions"][H0] = [completions("gpt-4o", "proj_b", 900, 0, 0, 10, 2)]
    fake.fail_next(Fault(200, body=b'{"object": "page", "data": [', path="/v1/organization/usage/completions"))
    poller.poll(clock.advance(300))
    assert not poller.up
    assert poller.errors == {"invalid_response": 1}
    assert observed(poller)["llm_vendor_tokens"] == before["llm_vendor_tokens"]

    poller.poll(clock.advance(60))
    assert poller.up
    assert_truth(poller, fake)


def test_malformed_page_mid_sequence_is_all_or_nothing(fake, hooks, clock):
    poller = make_poller(fake, hooks, usage=["completions"], costs=False)
    # The second page is served with a bucket whose start_time is not a number.
    original = fake.page

    def broken(starts, make_bucket, query, max_limit):
        body = original(starts, make_bucket, query, max_limit)
        if "page" in query:
            body["data"][0]["start_time"] = "yesterday"
        return body

    fake.page = broken
    poller.poll(clock())
    assert not poller.up
    assert observed(poller)["llm_vendor_tokens"] == {}

    fake.page = original
    poller.poll(clock.advance(60))
    assert_truth(poller, fake)


def test_timeout_is_retried(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    fake.fail_next(Fault(delay=1.0))
    poller.poll(clock())

    assert poller.up
    assert poller.errors == {"timeout": 1}
    assert_truth(poller, fake)


def test_wrong_key_is_not_retried(fake, hooks, clock, sleeps, monkeypatch, caplog):
    monkeypatch.setenv("TEST_OPENAI_ADMIN_KEY", "sk-admin-wrong-0000")
    poller = make_poller(fake, hooks)
    poller.poll(clock())

    assert not poller.up
    assert poller.last_success is None
    assert sleeps.waits == []
    assert poller.errors == {"auth": 3}  # one attempt per stream: two usage endpoints and costs
    assert "sk-admin-wrong" not in caplog.text
    assert "check the admin key" in caplog.text


def test_missing_key_reports_down(fake, hooks, clock, monkeypatch):
    monkeypatch.delenv("TEST_OPENAI_ADMIN_KEY")
    poller = make_poller(fake, hooks, usage=["completions"], costs=False)
    poller.poll(clock())

    assert not poller.up
    assert poller.errors == {"missing_key": 1}
    assert fake.requests == []


def test_key_from_file(fake, hooks, clock, tmp_path):
    key_file = tmp_path / "openai-admin-key"
    key_file.write_text(KEY + "\n")
    config = OpenAIUsageSourceConfig(name="openai", type="openai_usage", base_url=f"{fake.url}/v1",
                                     api_key_file=str(key_file), lookback=6 * HOUR)
    poller = OpenAIUsagePoller(config, hooks)
    poller.poll(clock())

    assert poller.up
    assert_truth(poller, fake)


def test_restart_in_the_middle(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    poller.poll(clock())
    fake.usage["completions"][H0] = [completions("gpt-4o", "proj_b", 700, 0, 0, 25, 2)]
    poller.poll(clock.advance(300))
    state = poller.export_state()

    restarted = make_poller(fake, hooks)
    restarted.restore(state)
    restarted.publish()
    assert observed(restarted) == observed(poller)

    fake.usage["completions"][H0] = [completions("gpt-4o", "proj_b", 900, 0, 0, 40, 3)]
    fake.usage["completions"][H0 + HOUR] = [completions("gpt-4o", "proj_a", 50, 0, 0, 5, 1)]
    fake.costs[D0] = [cost("gpt-4o, input", "proj_a", 2.5)]
    restarted.poll(clock.advance(HOUR))
    assert_truth(restarted, fake)


def test_old_buckets_settle_and_are_not_read_again(fake, hooks, clock):
    poller = make_poller(fake, hooks, usage=["completions"], costs=False)
    poller.poll(clock())
    poller.poll(clock.advance(4 * HOUR))
    assert_truth(poller, fake)

    first_of_poll = [int(q["start_time"][0]) for p, q in fake.requests if "page" not in q][-1]
    assert first_of_poll == H0 - 6 * HOUR  # from where the previous read settled, so no bucket is skipped

    poller.poll(clock.advance(300))
    first_of_poll = [int(q["start_time"][0]) for p, q in fake.requests if "page" not in q][-1]
    assert first_of_poll == H0 - 2 * HOUR
    assert_truth(poller, fake)


def test_downward_revision_holds_the_counter(fake, hooks, clock, caplog):
    poller = make_poller(fake, hooks, usage=["completions"], costs=False)
    poller.poll(clock())
    before = observed(poller)["llm_vendor_tokens"]

    fake.usage["completions"][H0] = [completions("gpt-4o", "proj_b", 100, 0, 0, 10, 1)]
    poller.poll(clock.advance(300))
    after = observed(poller)["llm_vendor_tokens"]

    assert after == before
    assert "revised" in caplog.text
    assert "downward" in caplog.text


def test_due_follows_the_interval(fake, hooks, clock):
    poller = make_poller(fake, hooks, interval=600)
    assert poller.due(clock())
    poller.poll(clock())
    assert not poller.due(clock.advance(599))
    assert poller.due(clock.advance(1))


def test_data_end_is_the_newest_complete_bucket(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    poller.poll(clock())
    poller.publish()
    families = {family.name: family for family in poller.collect()}

    [sample] = families["llm_vendor_data_end_timestamp_seconds"].samples
    assert sample.labels == {"provider": "openai", "source": "openai"}
    assert sample.value == H0  # the 09:00-10:00 bucket; 10:00-11:00 is still in progress


def test_unexpected_error_is_contained(fake, hooks, clock, caplog):
    poller = make_poller(fake, hooks, usage=["completions"], costs=False)

    def explode(start, end):
        raise KeyError(f"header Authorization: Bearer {KEY}")

    poller.streams[0].fetch = explode
    poller.poll(clock())

    assert not poller.up
    assert poller.errors == {"invalid_response": 1}
    assert "failed with KeyError at test_openai.py" in caplog.text
    assert KEY not in caplog.text


def test_repeated_failure_is_logged_once(fake, hooks, clock, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.delenv("TEST_OPENAI_ADMIN_KEY")
    poller = make_poller(fake, hooks, usage=["completions"], costs=False)
    for _ in range(3):
        poller.poll(clock.advance(60))
    assert caplog.text.count("TEST_OPENAI_ADMIN_KEY is not set") == 1
    assert poller.errors == {"missing_key": 3}

    monkeypatch.setenv("TEST_OPENAI_ADMIN_KEY", KEY)
    poller.poll(clock.advance(60))
    assert poller.up
    assert "succeeded again after 3 failed poll(s)" in caplog.text


def test_opt_in_dimension_becomes_a_label(fake, hooks, clock):
    fake.usage["completions"] = {H0 - HOUR: [{**completions("gpt-4o", "proj_a", 10, 0, 0, 1, 1), "user_id": "user_7"},
                                             completions("gpt-4o", "proj_a", 5, 0, 0, 1, 1)]}
    poller = make_poller(fake, hooks, usage=["completions"], costs=False, group_by=["model", "project_id", "user_id"])
    poller.poll(clock())
    requests = observed(poller)["llm_vendor_requests"]

    base = (("model", "gpt-4o"), ("project", "proj_a"), ("provider", "openai"))
    assert requests[tuple(sorted(base + (("user_id", "user_7"),)))] == 1
    assert requests[tuple(sorted(base + (("user_id", "none"),)))] == 1
    path, query = next(r for r in fake.requests if r[0].endswith("/completions"))
    assert query["group_by[]"] == ["model", "project_id", "user_id"]


def test_cost_between_reads_complete_days(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    assert poller.cost_between(D0 - DAY, D0) == pytest.approx(12.5 + 3.25)
    assert poller.up is False  # a direct read leaves the poller's state alone
    assert observed(poller)["llm_vendor_cost_usd"] == {}


@pytest.mark.parametrize(("interval", "retry"), [(300, 60), (30, 30), (21600, 3600)])
def test_failed_poll_retries_sooner(fake, hooks, clock, monkeypatch, interval, retry):
    monkeypatch.delenv("TEST_OPENAI_ADMIN_KEY")
    poller = make_poller(fake, hooks, usage=["completions"], costs=False, interval=interval)
    poller.poll(clock())
    assert not poller.due(clock() + retry - 1)
    assert poller.due(clock() + retry)


def test_data_end_is_zero_before_any_read(fake, hooks, clock, monkeypatch):
    monkeypatch.delenv("TEST_OPENAI_ADMIN_KEY")
    poller = make_poller(fake, hooks)
    poller.poll(clock())
    poller.publish()
    families = {family.name: family for family in poller.collect()}

    [sample] = families["llm_vendor_data_end_timestamp_seconds"].samples
    assert sample.value == 0
