"""S3 and CloudWatch Logs sources built from a config by the service, checkpointed and restarted (moto)."""

from __future__ import annotations

import gzip
import time

import boto3
import pytest
from moto import mock_aws

from llm_cost_exporter.config import ConfigError, parse_config
from llm_cost_exporter.service import Service
from llm_cost_exporter.sources.cloudwatch_logs import CloudWatchLogsSource

RECORD = (b'{"schemaType": "ModelInvocationLog", "timestamp": "2026-01-05T00:14:09Z", "requestId": "r%d", '
          b'"modelId": "eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "requestMetadata": {"feature": "search"}, '
          b'"input": {"inputTokenCount": 100, "cacheReadInputTokenCount": 1000}, "output": {"outputTokenCount": 10}}')
PREFIX = "bedrock/AWSLogs/210987654321/BedrockModelInvocationLogs/eu-west-1/"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def tokens(service: Service, token_type: str) -> float:
    index = ("input", "cache_read", "cache_write", "output").index(token_type)
    return sum(values[index] for values in service._snapshot.model_series.values())


def test_s3_bedrock_logs_through_service(aws, tmp_path):
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="gateway-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="gateway-logs", Key=f"{PREFIX}2026/01/05/00/a.json.gz",
                  Body=gzip.compress(b"\n".join(RECORD % n for n in range(3)) + b"\n"))
    config = parse_config(f"""
state: {{path: {tmp_path / 'state.db'}}}
sources:
  - {{name: bedrock, type: s3, bucket: gateway-logs, prefix: "{PREFIX}", region: eu-west-1, format: bedrock_invocation}}
""")
    service = Service(config)
    service.restore()
    assert service.poll_once() == 3
    service.checkpoint()
    assert tokens(service, "cache_read") == 3000
    service.close()

    s3.put_object(Bucket="gateway-logs", Key=f"{PREFIX}2026/01/05/01/b.json.gz", Body=gzip.compress(RECORD % 9 + b"\n"))
    restarted = Service(config)
    restarted.restore()
    assert restarted.poll_once() == 1
    restarted.checkpoint()
    assert tokens(restarted, "input") == 400
    restarted.close()


def test_cloudwatch_logs_through_service(aws, tmp_path):
    logs = boto3.client("logs", region_name="eu-west-1")
    logs.create_log_group(logGroupName="/bedrock")
    logs.create_log_stream(logGroupName="/bedrock", logStreamName="aws/bedrock/modelinvocations")
    now_ms = int(time.time() * 1000)
    logs.put_log_events(logGroupName="/bedrock", logStreamName="aws/bedrock/modelinvocations",
                        logEvents=[{"timestamp": now_ms - 1000 + n, "message": (RECORD % n).decode()}
                                   for n in range(2)])
    config = parse_config(f"""
state: {{path: {tmp_path / 'state.db'}}}
sources:
  - {{name: bedrock, type: cloudwatch_logs, log_group: /bedrock, region: eu-west-1, format: bedrock_invocation}}
""")
    service = Service(config)
    service.restore()
    assert service.poll_once() == 2
    service.checkpoint()
    service.close()

    restarted = Service(config)
    restarted.restore()
    assert restarted.poll_once() == 0
    assert tokens(restarted, "output") == 20
    restarted.close()


def test_unknown_key_in_s3_source_is_reported():
    with pytest.raises(ConfigError) as err:
        parse_config("sources: [{name: b, type: s3, bucket: logs, buckett: x}]")
    assert err.value.errors == ["sources[0].buckett: unknown key; check its spelling and indentation"]


def test_unknown_format_is_reported():
    with pytest.raises(ConfigError) as err:
        parse_config("sources: [{name: gw, type: file, path: /var/log/gw.jsonl, format: openai_chat}]")
    assert err.value.errors == ["sources[0].format: unknown format 'openai_chat'; use one of: anthropic, "
                                "bedrock_invocation, litellm, native, openai, otel_genai"]


def test_missing_region_names_the_fix(monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    config = parse_config("sources: [{name: events, type: cloudwatch_logs, log_group: /bedrock}]")
    with pytest.raises(ValueError) as err:
        CloudWatchLogsSource(config.sources[0])
    assert str(err.value) == ("source events: cannot create the AWS logs client: You must specify a region; "
                              "set region in the source or AWS_REGION in the environment")
