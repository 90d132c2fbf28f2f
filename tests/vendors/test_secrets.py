"""No admin key reaches a log line, an error, the exposition or the state file, even when a key is rejected."""

from __future__ import annotations

import logging
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from llm_cost_exporter.config.sources import AnthropicUsageSourceConfig, OpenAIUsageSourceConfig
from llm_cost_exporter.vendors.anthropic import AnthropicUsagePoller
from llm_cost_exporter.vendors.collector import merge_families
from llm_cost_exporter.vendors.openai import OpenAIUsagePoller
from tests.support.processes import ExporterProcess, wait_until

from .conftest import HOUR
from .fakes import Fault, FakeAnthropic, FakeOpenAI

OPENAI_KEY = "sk-admin-Zq9XvT3kLm7Wp2Rs8Yb4"
ANTHROPIC_KEY = "sk-ant-admin01-Hc6JdN1fQu5Ge0Ko"
WRONG_KEY = "sk-admin-Wr0ngKeyQx7Vd3Tz9Jh"
# Distinctive pieces: a leak of part of a key is a leak too.
SECRETS = [OPENAI_KEY, ANTHROPIC_KEY, WRONG_KEY, "Zq9XvT3k", "Hc6JdN1f", "Wr0ngKey", "Yb4", "e0Ko", "Tz9Jh"]


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} found in {where}"


@pytest.fixture
def fakes():
    openai = FakeOpenAI(OPENAI_KEY, time.time)
    anthropic = FakeAnthropic(ANTHROPIC_KEY, time.time)
    hour = int(time.time() // HOUR * HOUR) - HOUR
    openai.usage["completions"][hour] = [{"input_tokens": 100, "input_cached_tokens": 0,
                                          "input_cache_write_tokens": 0, "output_tokens": 7,
                                          "num_model_requests": 1, "model": "gpt-4o", "project_id": "proj_a"}]
    anthropic.usage[hour] = [{"uncached_input_tokens": 30, "cache_read_input_tokens": 0, "output_tokens": 3,
                              "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                              "model": "claude-sonnet-4-5", "workspace_id": None}]
    yield openai, anthropic
    openai.stop()
    anthropic.stop()


def test_no_secret_in_logs_errors_or_state(fakes, hooks, monkeypatch, caplog):
    openai, anthropic = fakes
    monkeypatch.setenv("T_OPENAI", OPENAI_KEY)
    monkeypatch.setenv("T_ANTHROPIC", ANTHROPIC_KEY)
    monkeypatch.setenv("T_WRONG", WRONG_KEY)
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's request lines included
    settings = {"lookback": 6 * HOUR, "max_attempts": 2, "timeout": 0.3}
    pollers = [
        OpenAIUsagePoller(OpenAIUsageSourceConfig(name="openai", type="openai_usage", base_url=f"{openai.url}/v1",
                                                  api_key_env="T_OPENAI", **settings), hooks),
        OpenAIUsagePoller(OpenAIUsageSourceConfig(name="openai-wrong", type="openai_usage",
                                                  base_url=f"{openai.url}/v1", api_key_env="T_WRONG", **settings),
                          hooks),
        AnthropicUsagePoller(AnthropicUsageSourceConfig(name="anthropic", type="anthropic_usage",
                                                        base_url=anthropic.url, api_key_env="T_ANTHROPIC",
                                                        **settings), hooks),
    ]
    openai.fail_next(Fault(500, body=f'{{"error": "backend saw key {OPENAI_KEY}"}}'.encode()),
                     Fault(200, body=b"not json"), Fault(delay=0.5))
    anthropic.fail_next(Fault(429, {"Retry-After": "1"}, body=ANTHROPIC_KEY.encode()))
    for poller in pollers:
        poller.poll(time.time())
        poller.poll(time.time())
        poller.publish()

    assert pollers[0].up and pollers[2].up
    assert not pollers[1].up
    assert pollers[1].errors["auth"] >= 1

    class Pollers:
        def collect(self):
            yield from merge_families(metric for poller in pollers for metric in poller.collect())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Pollers())
    exposition = generate_latest(registry).decode()
    assert "llm_vendor_tokens_total" in exposition
    assert_no_secret(exposition, "the exposition")
    assert_no_secret(caplog.text, "the log")
    assert_no_secret(repr([poller.export_state() for poller in pollers]), "the state")
    assert_no_secret(repr([record.args for record in caplog.records]), "log arguments")


@pytest.mark.slow
def test_serve_never_shows_a_key(fakes, tmp_path):
    openai, anthropic = fakes
    common = {"interval": "1s", "lookback": "6h", "max_attempts": 2, "timeout": "2s"}
    config = {"sources": [
        {"name": "openai", "type": "openai_usage", "base_url": f"{openai.url}/v1", "api_key_env": "T_OPENAI",
         **common},
        {"name": "openai-wrong", "type": "openai_usage", "base_url": f"{openai.url}/v1",
         "api_key_file": str(tmp_path / "wrong-key"), **common},
        {"name": "anthropic", "type": "anthropic_usage", "base_url": anthropic.url, "api_key_env": "T_ANTHROPIC",
         **common}]}
    (tmp_path / "wrong-key").write_text(WRONG_KEY)
    env = {"T_OPENAI": OPENAI_KEY, "T_ANTHROPIC": ANTHROPIC_KEY}
    with ExporterProcess(tmp_path / "exporter", config, env=env) as exporter:
        def polled() -> str | None:
            text = exporter.metrics_text()
            done = ('llm_exporter_source_up{source="openai"} 1.0' in text
                    and 'llm_exporter_source_up{source="anthropic"} 1.0' in text
                    and 'llm_exporter_source_errors_total{error_class="auth",source="openai-wrong"}' in text)
            return text if done else None

        text = wait_until(polled, timeout=30, what="all three vendor sources polled")
    assert 'llm_vendor_tokens_total{model="gpt-4o"' in text or 'provider="openai"' in text
    assert_no_secret(text, "/metrics")
    assert_no_secret(exporter.log_path.read_text(errors="replace"), "the exporter log")
    for path in (tmp_path / "exporter").glob("state.db*"):
        assert_no_secret(path.read_bytes().decode("latin-1"), path.name)
