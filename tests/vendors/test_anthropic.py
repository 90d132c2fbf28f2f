"""Anthropic usage and cost reports against a loopback server that pages, revises, throttles and fails."""

from __future__ import annotations

import pytest

from llm_cost_exporter.config.sources import AnthropicUsageSourceConfig
from llm_cost_exporter.vendors.anthropic import AnthropicUsagePoller, cents_to_usd
from llm_cost_exporter.vendors.errors import VendorError

from .conftest import DAY, HOUR, T0, by_family
from .fakes import Fault, FakeAnthropic

KEY = "sk-ant-admin01-test-93c1d2e4f5a6b7c8"
H0 = int(T0 - T0 % HOUR)
D0 = int(T0 - T0 % DAY)


def usage(model: str, workspace: str | None, uncached: int, read: int, write_5m: int, write_1h: int,
          output: int) -> dict:
    return {"uncached_input_tokens": uncached, "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
            "output_tokens": output, "server_tool_use": {"web_search_requests": 0}, "model": model,
            "workspace_id": workspace, "api_key_id": None, "service_tier": None, "context_window": None,
            "inference_geo": None, "account_id": None, "service_account_id": None}


def cost(description: str, workspace: str | None, cents: str) -> dict:
    return {"amount": cents, "currency": "USD", "cost_type": "tokens", "description": description,
            "model": None, "service_tier": None, "context_window": None, "token_type": None,
            "inference_geo": None, "workspace_id": workspace}


def expected(fake: FakeAnthropic, now: float) -> dict[str, dict]:
    """The truth from the fake's tables: complete buckets only, as the API returns them."""
    tokens: dict = {}
    costs: dict = {}
    for start, results in fake.usage.items():
        if start + HOUR > now:
            continue
        for r in results:
            base = (("model", r["model"]), ("project", r["workspace_id"] or "default"), ("provider", "anthropic"))
            split = {"input": r["uncached_input_tokens"], "cache_read": r["cache_read_input_tokens"],
                     "cache_write": sum(r["cache_creation"].values()), "output": r["output_tokens"]}
            for token_type, value in split.items():
                if value:
                    key = tuple(sorted(base + (("token_type", token_type),)))
                    tokens[key] = tokens.get(key, 0) + value
    for start, results in fake.costs.items():
        if start + DAY > now:
            continue
        for r in results:
            key = (("line_item", r["description"]), ("project", r["workspace_id"] or "default"),
                   ("provider", "anthropic"))
            costs[key] = costs.get(key, 0) + float(r["amount"]) / 100
    return {"llm_vendor_tokens": tokens, "llm_vendor_cost_usd": costs}


def assert_truth(poller: AnthropicUsagePoller, fake: FakeAnthropic, now: float) -> None:
    poller.publish()
    totals = poller.totals()
    for family, want in expected(fake, now).items():
        assert by_family(totals, family) == pytest.approx(want, rel=1e-12), family


@pytest.fixture
def fake(clock):
    server = FakeAnthropic(KEY, clock, page_size=2)
    server.usage = {
        H0 - 3 * HOUR: [usage("claude-sonnet-4-5", "wrkspc_a", 100, 5000, 300, 0, 40)],
        H0 - 2 * HOUR: [],
        H0 - HOUR: [usage("claude-sonnet-4-5", None, 200, 0, 0, 1000, 60),
                    usage("claude-haiku-4-5", "wrkspc_a", 50, 0, 0, 0, 5)],
        H0: [usage("claude-sonnet-4-5", "wrkspc_a", 999, 0, 0, 0, 9)],  # in progress: not reported yet
    }
    server.costs = {D0 - 2 * DAY: [cost("Claude Sonnet 4.5 Usage - Input Tokens", "wrkspc_a", "120.5")],
                    D0 - DAY: [cost("Claude Sonnet 4.5 Usage - Output Tokens", "wrkspc_a", "2207.5140"),
                               cost("Web Search Usage", None, "31.0000")]}
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def admin_key(monkeypatch):
    monkeypatch.setenv("TEST_ANTHROPIC_ADMIN_KEY", KEY)


def make_poller(fake, hooks, **settings) -> AnthropicUsagePoller:
    config = AnthropicUsageSourceConfig(name="anthropic", type="anthropic_usage", base_url=fake.url,
                                        api_key_env="TEST_ANTHROPIC_ADMIN_KEY", lookback=6 * HOUR, max_attempts=3,
                                        timeout=0.3, **settings)
    return AnthropicUsagePoller(config, hooks)


def test_cents_to_usd():
    assert cents_to_usd("123.45") == pytest.approx(1.2345)
    assert cents_to_usd("2207.5140") == pytest.approx(22.07514)
    with pytest.raises(VendorError):
        cents_to_usd("twelve")


def test_first_poll_reads_every_page(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    poller.poll(clock())

    assert poller.up
    assert_truth(poller, fake, clock())
    usage_requests = [query for path, query in fake.requests if path.endswith("/messages")]
    assert len(usage_requests) == 3  # six complete hourly buckets, two per page
    assert usage_requests[0]["starting_at"] == ["2026-12-03T04:00:00Z"]
    assert usage_requests[0]["ending_at"] == ["2026-12-03T10:30:00Z"]
    assert usage_requests[0]["group_by[]"] == ["model", "workspace_id"]


def test_null_workspace_is_the_default_workspace(fake, hooks, clock):
    poller = make_poller(fake, hooks, costs=False)
    poller.poll(clock())
    poller.publish()
    tokens = by_family(poller.totals(), "llm_vendor_tokens")

    key = (("model", "claude-sonnet-4-5"), ("project", "default"), ("provider", "anthropic"),
           ("token_type", "cache_write"))
    assert tokens[key] == 1000


def test_cost_amounts_are_cents(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    poller.poll(clock())
    poller.publish()
    costs = by_family(poller.totals(), "llm_vendor_cost_usd")

    key = (("line_item", "Claude Sonnet 4.5 Usage - Output Tokens"), ("project", "wrkspc_a"),
           ("provider", "anthropic"))
    assert costs[key] == pytest.approx(22.07514)


def test_bucket_in_progress_counts_once_complete(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    poller.poll(clock())
    fake.usage[H0] = [usage("claude-sonnet-4-5", "wrkspc_a", 1200, 0, 0, 0, 12)]
    poller.poll(clock.advance(HOUR))
    assert_truth(poller, fake, clock())


def test_revision_and_faults_sequence(fake, hooks, clock, sleeps):
    poller = make_poller(fake, hooks)
    poller.poll(clock())
    assert_truth(poller, fake, clock())

    fake.usage[H0 - HOUR][1] = usage("claude-haiku-4-5", "wrkspc_a", 80, 10, 0, 0, 9)  # revised upward
    fake.fail_next(Fault(429, {"Retry-After": "3"}), Fault(500))
    poller.poll(clock.advance(300))
    assert poller.up
    assert sleeps.waits[0] == 3.0
    assert poller.errors == {"rate_limit": 1, "server_error": 1}
    assert_truth(poller, fake, clock())

    fake.fail_next(Fault(200, body=b"<html>gateway timeout</html>"))
    poller.poll(clock.advance(300))
    assert not poller.up
    assert_truth(poller, fake, clock())

    fake.fail_next(Fault(delay=1.0))
    poller.poll(clock.advance(300))
    assert poller.up
    assert poller.errors == {"rate_limit": 1, "server_error": 1, "invalid_response": 1, "timeout": 1}
    assert_truth(poller, fake, clock())


def test_wrong_key_is_rejected(fake, hooks, clock, monkeypatch, caplog):
    monkeypatch.setenv("TEST_ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-wrong")
    poller = make_poller(fake, hooks)
    poller.poll(clock())

    assert not poller.up
    assert poller.errors == {"auth": 2}
    assert "sk-ant-admin01" not in caplog.text


def test_restart_in_the_middle(fake, hooks, clock):
    poller = make_poller(fake, hooks)
    poller.poll(clock())
    state = poller.export_state()

    fake.usage[H0 - HOUR].append(usage("claude-opus-4-1", "wrkspc_b", 10, 0, 0, 0, 1))
    fake.costs[D0 - DAY].append(cost("Claude Opus Usage - Input Tokens", "wrkspc_b", "15"))
    restarted = make_poller(fake, hooks)
    restarted.restore(state)
    restarted.poll(clock.advance(600))
    assert_truth(restarted, fake, clock())

    restarted.poll(clock.advance(DAY))  # the next day's cost bucket completes
    fake.costs[D0] = [cost("Claude Sonnet 4.5 Usage - Input Tokens", "wrkspc_a", "50")]
    restarted.poll(clock.advance(300))
    assert_truth(restarted, fake, clock())


def test_null_api_key_is_console_usage(fake, hooks, clock):
    fake.usage = {H0 - HOUR: [{**usage("claude-sonnet-4-5", "wrkspc_a", 10, 0, 0, 0, 1), "api_key_id": "apikey_01"},
                              usage("claude-sonnet-4-5", "wrkspc_a", 5, 0, 0, 0, 1)]}
    poller = make_poller(fake, hooks, costs=False, group_by=["model", "workspace_id", "api_key_id"])
    poller.poll(clock())
    poller.publish()
    tokens = by_family(poller.totals(), "llm_vendor_tokens")

    base = (("model", "claude-sonnet-4-5"), ("project", "wrkspc_a"), ("provider", "anthropic"), ("token_type", "input"))
    assert tokens[tuple(sorted(base + (("api_key_id", "apikey_01"),)))] == 10
    assert tokens[tuple(sorted(base + (("api_key_id", "console"),)))] == 5
