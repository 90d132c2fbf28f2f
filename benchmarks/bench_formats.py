"""Ingest rate of each log format against the native one, measured in the same run.

Every format gets the same calls (same models, features, token counts), written the way that
vendor logs them. Each round ingests every format once (parse, price, aggregate) into a fresh
aggregator. Time is CPU time of this thread (time.thread_time), so load from other processes on
a shared machine affects all formats alike. The table reports the median over the rounds.

    .venv/bin/python benchmarks/bench_formats.py [--calls 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time

import orjson

from llm_cost_exporter.aggregation import Aggregator
from llm_cost_exporter.config import parse_config
from llm_cost_exporter.formats import FORMATS, make_parser
from llm_cost_exporter.ingest import RecordIngestor

FEATURES = ("search", "support", "agent", "summarize", "triage")
INTENTS = ("lookup", "refund", "plan", "draft", "classify", "answer")
START = 1767571200


def make_calls(count: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    calls = []
    for n in range(count):
        calls.append({
            "n": n, "ts": START + n * 0.5, "feature": rng.choice(FEATURES), "intent": rng.choice(INTENTS),
            "input": rng.randint(50, 4000), "cache_read": rng.choice((0, 0, 1024, 4096, 14210)),
            "cache_write": rng.choice((0, 0, 0, 2048)), "output": rng.randint(10, 1500),
            "reasoning": rng.choice((0, 0, 128)), "request": f"req-{n // 3:08d}",
        })
    return calls


def native(call: dict) -> dict:
    return {"ts": call["ts"], "kind": "model", "request_id": call["request"], "call_id": f"c{call['n']}",
            "provider": "openai", "model": "gpt-4o", "input_tokens": call["input"],
            "cache_read_tokens": call["cache_read"], "cache_write_tokens": call["cache_write"],
            "output_tokens": call["output"], "reasoning_tokens": min(call["reasoning"], call["output"]),
            "feature": call["feature"], "intent": call["intent"]}


def openai(call: dict) -> dict:
    prompt = call["input"] + call["cache_read"]
    return {"ts": call["ts"], "request_id": call["request"], "metadata": {"feature": call["feature"],
                                                                         "intent": call["intent"]},
            "response": {"id": f"chatcmpl-{call['n']}", "object": "chat.completion", "created": int(call["ts"]),
                         "model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "finish_reason": "stop",
                                                                    "message": {"role": "assistant", "content": "ok"}}],
                         "usage": {"prompt_tokens": prompt, "completion_tokens": call["output"],
                                   "total_tokens": prompt + call["output"],
                                   "prompt_tokens_details": {"cached_tokens": call["cache_read"], "audio_tokens": 0},
                                   "completion_tokens_details": {"reasoning_tokens": min(call["reasoning"],
                                                                                         call["output"])}}}}


def anthropic(call: dict) -> dict:
    return {"ts": call["ts"], "request_id": call["request"], "metadata": {"feature": call["feature"],
                                                                         "intent": call["intent"]},
            "response": {"id": f"msg_{call['n']}", "type": "message", "role": "assistant",
                         "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": "ok"}],
                         "stop_reason": "end_turn",
                         "usage": {"input_tokens": call["input"], "cache_read_input_tokens": call["cache_read"],
                                   "cache_creation_input_tokens": call["cache_write"],
                                   "cache_creation": {"ephemeral_5m_input_tokens": call["cache_write"],
                                                      "ephemeral_1h_input_tokens": 0},
                                   "output_tokens": call["output"]}}}


def litellm(call: dict) -> dict:
    prompt = call["input"] + call["cache_read"] + call["cache_write"]
    return {"id": f"chatcmpl-{call['n']}", "trace_id": call["request"], "call_type": "acompletion",
            "status": "success", "custom_llm_provider": "anthropic", "model": "claude-sonnet-4-5-20250929",
            "response_cost": 0.01, "prompt_tokens": prompt, "completion_tokens": call["output"],
            "total_tokens": prompt + call["output"], "startTime": call["ts"], "endTime": call["ts"] + 1.5,
            "cache_hit": False, "metadata": {
                "user_api_key_alias": "search-backend", "user_api_key_team_alias": "search",
                "spend_logs_metadata": {"feature": call["feature"], "intent": call["intent"]},
                "usage_object": {"prompt_tokens": prompt, "completion_tokens": call["output"],
                                 "cache_read_input_tokens": call["cache_read"],
                                 "cache_creation_input_tokens": call["cache_write"]}}}


def bedrock_invocation(call: dict) -> dict:
    return {"schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(call["ts"])),
            "accountId": "210987654321", "region": "eu-west-1", "requestId": f"r-{call['n']}",
            "operation": "Converse", "modelId": "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "identity": {"arn": "arn:aws:sts::210987654321:assumed-role/chat-backend/i-0abc123"},
            "requestMetadata": {"feature": call["feature"], "intent": call["intent"]},
            "input": {"inputContentType": "application/json", "inputTokenCount": call["input"],
                      "cacheReadInputTokenCount": call["cache_read"],
                      "cacheWriteInputTokenCount": call["cache_write"]},
            "output": {"outputContentType": "application/json", "outputTokenCount": call["output"]}}


def otel_genai(call: dict) -> dict:
    """Write one span per export line, as a collector with a small batch does."""

    def attribute(key, value):
        kind = "intValue" if isinstance(value, int) else "stringValue"
        return {"key": key, "value": {kind: str(value) if kind == "intValue" else value}}

    end = int(call["ts"] * 1e9)
    attributes = [attribute("gen_ai.operation.name", "chat"), attribute("gen_ai.provider.name", "openai"),
                  attribute("gen_ai.request.model", "gpt-4o"), attribute("gen_ai.response.model", "gpt-4o-2024-08-06"),
                  attribute("gen_ai.usage.input_tokens", call["input"] + call["cache_read"] + call["cache_write"]),
                  attribute("gen_ai.usage.cache_read.input_tokens", call["cache_read"]),
                  attribute("gen_ai.usage.cache_creation.input_tokens", call["cache_write"]),
                  attribute("gen_ai.usage.output_tokens", call["output"]),
                  attribute("feature", call["feature"]), attribute("intent", call["intent"])]
    span = {"traceId": f"{call['n'] // 3:032x}", "spanId": f"{call['n']:016x}", "name": "chat gpt-4o", "kind": 3,
            "startTimeUnixNano": str(end - 1_500_000_000), "endTimeUnixNano": str(end),
            "attributes": attributes, "status": {}}
    return {"resourceSpans": [{"resource": {"attributes": [attribute("service.name", "gateway")]},
                               "scopeSpans": [{"scope": {"name": "bench"}, "spans": [span]}]}]}


WRITERS = {"native": native, "openai": openai, "anthropic": anthropic, "litellm": litellm,
           "bedrock_invocation": bedrock_invocation, "otel_genai": otel_genai}


def ingest_seconds(name: str, lines: list[bytes]) -> float:
    config = parse_config("{}")
    aggregator = Aggregator(config)
    ingestor = RecordIngestor(name, make_parser(name, config.labels.attribution), aggregator)
    started = time.thread_time()
    accepted = ingestor.ingest(lines)
    elapsed = time.thread_time() - started
    if accepted != len(lines):
        raise SystemExit(f"{name}: {len(lines) - accepted} of {len(lines)} records rejected; fix the writer")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per format (default: 20000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median is reported (default: 5)")
    args = parser.parse_args()
    if set(WRITERS) != set(FORMATS):
        raise SystemExit(f"formats without a writer here: {sorted(set(FORMATS) - set(WRITERS))}")

    calls = make_calls(args.calls)
    lines = {name: [orjson.dumps(write(call)) for call in calls] for name, write in WRITERS.items()}
    timings: dict[str, list[float]] = {name: [] for name in WRITERS}
    for _ in range(args.rounds):
        for name in WRITERS:
            timings[name].append(ingest_seconds(name, lines[name]))

    native_rate = args.calls / statistics.median(timings["native"])
    print(f"{args.calls} calls per format, median of {args.rounds} rounds, CPU time of one thread; "
          f"Python {platform.python_version()} on {platform.machine()}")
    print()
    print("| format | bytes per record | records/s | relative to native |")
    print("|---|---:|---:|---:|")
    for name in WRITERS:
        rate = args.calls / statistics.median(timings[name])
        size = sum(map(len, lines[name])) / args.calls
        print(f"| {name} | {size:.0f} | {rate:,.0f} | {rate / native_rate:.2f} |")


if __name__ == "__main__":
    main()
