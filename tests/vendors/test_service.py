"""Vendor pollers inside the exporter service: checkpointed with everything else, exposed after a restart."""

from __future__ import annotations

import time

import pytest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from llm_cost_exporter.config import parse_config
from llm_cost_exporter.service import Service
from llm_cost_exporter.vendors.collector import merge_families

from .fakes import FakeAnthropic, FakeOpenAI

HOUR = 3600
KEY = "sk-admin-service-test"


@pytest.fixture
def openai(monkeypatch):
    monkeypatch.setenv("T_OPENAI", KEY)
    monkeypatch.setenv("T_ANTHROPIC", KEY)
    server = FakeOpenAI(KEY, time.time)
    yield server
    server.stop()


def usage(input_tokens: int) -> dict:
    return {"input_tokens": input_tokens, "input_cached_tokens": 0, "input_cache_write_tokens": 0,
            "output_tokens": 1, "num_model_requests": 1, "model": "gpt-4o", "project_id": "proj_a"}


def make_service(tmp_path, *sources: str) -> Service:
    service = Service(parse_config(f"state: {{path: {tmp_path / 'state.db'}}}\nsources:\n" + "".join(sources)))
    service.restore()
    return service


def openai_source(url: str, interval: str = "5m") -> str:
    return (f'  - {{name: openai, type: openai_usage, base_url: "{url}/v1", api_key_env: T_OPENAI, costs: false, '
            f'interval: {interval}}}\n')


def input_tokens(service: Service) -> float:
    value = service.registry.get_sample_value("llm_vendor_tokens_total", {
        "provider": "openai", "model": "gpt-4o", "token_type": "input", "project": "proj_a"})
    return value or 0.0


def test_restart_continues_from_the_checkpoint(openai, tmp_path):
    hour = int(time.time() // HOUR * HOUR)
    openai.usage["completions"] = {hour - 2 * HOUR: [usage(100)], hour - HOUR: [usage(40)]}
    service = make_service(tmp_path, openai_source(openai.url, interval="0.2s"))
    service.poll_once()
    assert input_tokens(service) == 0  # polled, but not published before the checkpoint
    service.checkpoint()
    assert input_tokens(service) == 140
    service.close()

    openai.usage["completions"][hour - HOUR] = [usage(90)]  # revised while the exporter was down
    restarted = make_service(tmp_path, openai_source(openai.url, interval="0.2s"))
    assert input_tokens(restarted) == 140
    time.sleep(0.25)  # the next poll falls due
    restarted.poll_once()
    restarted.checkpoint()
    assert input_tokens(restarted) == 190
    assert restarted.registry.get_sample_value("llm_exporter_source_up", {"source": "openai"}) == 1
    restarted.close()


def test_merged_families_are_valid_openmetrics():
    from prometheus_client.core import CounterMetricFamily

    first, second = CounterMetricFamily("llm_vendor_tokens", "t"), CounterMetricFamily("llm_vendor_tokens", "t")
    first.add_sample("llm_vendor_tokens_total", {"provider": "openai"}, 1)
    second.add_sample("llm_vendor_tokens_total", {"provider": "anthropic"}, 2)
    [merged] = list(merge_families([first, second]))
    assert [sample.labels["provider"] for sample in merged.samples] == ["openai", "anthropic"]


def test_two_vendor_sources_render_valid_openmetrics(openai, tmp_path):
    anthropic = FakeAnthropic(KEY, time.time)
    try:
        anthropic_source = (f'  - {{name: anthropic, type: anthropic_usage, base_url: "{anthropic.url}", '
                            f'api_key_env: T_ANTHROPIC}}\n')
        service = make_service(tmp_path, openai_source(openai.url), anthropic_source)
        service.poll_once()
        service.checkpoint()
        text = generate_openmetrics(service.registry).decode()
        service.close()
    finally:
        anthropic.stop()
    families = [family.name for family in text_string_to_metric_families(text)]
    assert families.count("llm_vendor_data_end_timestamp_seconds") == 1


def test_restart_keeps_the_schedule_and_health(openai, tmp_path):
    service = make_service(tmp_path, openai_source(openai.url))
    service.poll_once()
    service.checkpoint()
    polls = len(openai.requests)
    service.close()

    restarted = make_service(tmp_path, openai_source(openai.url))
    restarted.poll_once()  # not due yet: the interval runs on from the last poll
    assert len(openai.requests) == polls
    assert restarted.registry.get_sample_value("llm_exporter_source_up", {"source": "openai"}) == 1
    restarted.close()
