"""Each vendor format's fixture, normalized into disjoint token counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_cost_exporter.formats import RecordRejected, make_parser

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "formats"
ATTRIBUTION = ["feature", "intent", "cohort", "cost_center", "product_line"]


def parse_fixture(name: str, label_paths: dict[str, str] | None = None) -> list[list]:
    parser = make_parser(name, ATTRIBUTION, label_paths)
    lines = (FIXTURES / f"{name}.jsonl").read_bytes().splitlines()
    return [parser.parse(line) for line in lines]


def tokens(event) -> tuple[int, int, int, int, int, int]:
    """(input, cache_read, cache_write, cache_write_1h, output, reasoning)"""
    return (event.input_tokens, event.cache_read_tokens, event.cache_write_tokens,
            event.cache_write_1h_tokens, event.output_tokens, event.reasoning_tokens)


def test_openai_chat_completion_subtracts_cached_tokens():
    [event] = parse_fixture("openai")[0]
    assert event.provider == "openai"
    assert event.model == "gpt-4o-2024-08-06"
    assert tokens(event) == (290, 1920, 0, 0, 380, 0)
    assert event.ts == 1767571200.0
    assert event.call_id == "chatcmpl-BaX2kq9Lr1f0tVYw3sGZ8mN4pQe7"


def test_openai_responses_usage_in_envelope():
    [event] = parse_fixture("openai")[1]
    assert tokens(event) == (1024, 4096, 0, 0, 912, 768)
    assert event.ts == pytest.approx(1767571203.512)
    assert event.request_id == "req-7f3a"
    assert event.attributes["feature"] == "search"
    assert event.attributes["user_id"] == "u_1842"


def test_openai_cached_tokens_above_prompt_are_capped():
    [event] = parse_fixture("openai")[2]
    assert tokens(event) == (0, 1024, 0, 0, 64, 0)
    assert event.attempt == 2
    assert event.retry_of == "call-1"


def test_openai_error_envelope_is_failed_call():
    [event] = parse_fixture("openai")[3]
    assert event.status == "error"
    assert event.error_class == "rate_limit"
    assert tokens(event) == (0, 0, 0, 0, 0, 0)


def test_openai_cache_write_tokens_are_split_out():
    parser = make_parser("openai", ATTRIBUTION)
    line = (b'{"ts": 1, "response": {"model": "gpt-5", "usage": {"input_tokens": 3000, "input_tokens_details":'
            b' {"cached_tokens": 1000, "cache_write_tokens": 1500}, "output_tokens": 10}}}')
    [event] = parser.parse(line)
    assert tokens(event) == (500, 1000, 1500, 0, 10, 0)


def test_openai_chunk_without_usage_rejected():
    parser = make_parser("openai", ATTRIBUTION)
    with pytest.raises(RecordRejected) as err:
        parser.parse(b'{"object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": []}')
    assert err.value.reason == "missing_field"


def test_anthropic_input_excludes_cache_reads():
    [event] = parse_fixture("anthropic")[0]
    assert event.provider == "anthropic"
    assert tokens(event) == (57, 14210, 0, 0, 611, 0)
    assert event.attributes["cohort"] == "enterprise"


def test_anthropic_one_hour_cache_writes():
    [event] = parse_fixture("anthropic")[1]
    assert tokens(event) == (96, 0, 20400, 12000, 402, 0)


def test_anthropic_bare_message_with_ts():
    [event] = parse_fixture("anthropic")[2]
    assert tokens(event) == (1200, 0, 300, 0, 128, 0)
    assert event.attributes["feature"] == "triage"


def test_anthropic_overloaded_error():
    [event] = parse_fixture("anthropic")[3]
    assert event.status == "error"
    assert event.error_class == "server_error"


def test_anthropic_requires_ts():
    parser = make_parser("anthropic", ATTRIBUTION)
    with pytest.raises(RecordRejected) as err:
        parser.parse(b'{"type": "message", "model": "claude-haiku-4-5", "usage": {"input_tokens": 1}}')
    assert err.value.reason == "missing_field"


def test_litellm_prompt_tokens_include_cache():
    [event] = parse_fixture("litellm")[0]
    assert tokens(event) == (57, 14210, 0, 0, 611, 0)
    assert event.cost_usd == pytest.approx(0.0137412)
    assert event.request_id == "b7c3f1de-2a40-4f9b-9d1e-5e0a7c3b2f18"


def test_litellm_key_team_and_user_metadata():
    [event] = parse_fixture("litellm")[0]
    assert event.attributes["api_key_id"] == "search-backend"
    assert event.attributes["cost_center"] == "search"
    assert event.attributes["user_id"] == "u_42"
    assert event.attributes["feature"] == "search"


def test_litellm_bedrock_cache_read_and_write():
    [event] = parse_fixture("litellm")[1]
    assert event.provider == "aws"
    assert tokens(event) == (10, 66360, 32435, 0, 1500, 0)
    assert event.attributes["cost_center"] == "cc-ml"
    assert event.attributes["user_id"] == "customer-118"


def test_litellm_failure_error_class():
    [event] = parse_fixture("litellm")[2]
    assert event.status == "error"
    assert event.error_class == "rate_limit"


def test_litellm_response_cache_hit_has_no_event():
    assert parse_fixture("litellm")[3] == []


def test_bedrock_invocation_cache_read():
    [event] = parse_fixture("bedrock_invocation")[0]
    assert event.provider == "aws"
    assert event.model == "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
    assert tokens(event) == (412, 18800, 0, 0, 233, 0)
    assert event.attributes["feature"] == "search"
    assert event.call_id == "7f1c2a9e-5b0d-4e61-9c3a-2d8e1f0b7a64"


def test_bedrock_invocation_one_hour_cache_write():
    [event] = parse_fixture("bedrock_invocation")[1]
    assert tokens(event) == (96, 0, 20400, 15000, 402, 0)


def test_bedrock_invocation_embedding():
    [event] = parse_fixture("bedrock_invocation")[2]
    assert tokens(event) == (1536, 0, 0, 0, 0, 0)
    assert event.attributes["feature"] == ""


def test_otel_model_span_subtracts_cache_reads():
    events = parse_fixture("otel_genai")[0]
    assert [event.kind for event in events] == ["model", "tool"]
    chat = events[0]
    assert chat.provider == "anthropic"
    assert chat.model == "claude-sonnet-4-5-20250929"
    assert tokens(chat) == (57, 14210, 0, 0, 611, 0)
    assert chat.ts == 1767571203.904
    assert chat.request_id == "5b8efff798038103d269b633813fc60c"
    assert chat.attributes["feature"] == "support"
    assert chat.attributes["cost_center"] == "cc-support"


def test_otel_agent_span_is_skipped():
    events = parse_fixture("otel_genai")[0]
    assert "eee19b7ec3c1b174" not in [event.call_id for event in events]


def test_otel_failed_tool_span():
    tool = parse_fixture("otel_genai")[0][1]
    assert tool.tool == "lookup_order"
    assert tool.status == "error"
    assert tool.error_class == "tool_error"


def test_otel_deprecated_system_and_numeric_int():
    events = parse_fixture("otel_genai")[1]
    assert len(events) == 2
    assert events[0].provider == "openai"
    assert tokens(events[0]) == (290, 1920, 0, 0, 380, 0)
    assert events[0].attributes["user_id"] == "u_77"
    assert events[1].status == "error"
    assert events[1].error_class == "timeout"


@pytest.mark.parametrize("name, line, label_paths, label, expected", [
    ("openai", 1, {"feature": "metadata.intent"}, "feature", "lookup"),
    ("anthropic", 0, {"product_line": "response.model"}, "product_line", "claude-sonnet-4-5-20250929"),
    ("litellm", 0, {"feature": "metadata.user_api_key_team_alias"}, "feature", "search"),
    ("bedrock_invocation", 0, {"customer_id": "requestMetadata.tenant"}, "customer_id", "acme"),
    ("otel_genai", 0, {"product_line": "resource.service.name"}, "product_line", "support-bot"),
])
def test_label_path_overrides_default(name, line, label_paths, label, expected):
    first = parse_fixture(name, label_paths)[line][0]
    assert first.attributes[label] == expected
