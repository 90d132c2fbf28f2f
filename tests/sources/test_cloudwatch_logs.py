"""The CloudWatch Logs source against moto: pagination, new events, late events and restarts."""

from __future__ import annotations

import time

import boto3
import pytest
from moto import mock_aws

from llm_cost_exporter.config.sources import CloudWatchLogsSourceConfig
from llm_cost_exporter.sources.cloudwatch_logs import CloudWatchLogsSource

GROUP = "/aws/bedrock/modelinvocations"
# CloudWatch Logs rejects events older than 14 days, so the events are an hour old.
BASE_MS = (int(time.time()) - 3600) * 1000


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logs(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        client.create_log_group(logGroupName=GROUP)
        client.create_log_stream(logGroupName=GROUP, logStreamName="stream-a")
        client.create_log_stream(logGroupName=GROUP, logStreamName="stream-b")
        yield client


def put(client, stream: str, *numbers: int, at_ms: int | None = None) -> None:
    events = [{"timestamp": at_ms if at_ms is not None else BASE_MS + n * 1000, "message": f'{{"n": {n}}}'}
              for n in numbers]
    client.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)


def lines(*numbers: int) -> list[bytes]:
    return [b'{"n": %d}' % n for n in numbers]


def make_source(client, positions=None, clock=None, **extra) -> CloudWatchLogsSource:
    page_limit = extra.pop("page_limit", 10_000)
    settings = {"name": "bedrock", "type": "cloudwatch_logs", "log_group": GROUP, **extra}
    return CloudWatchLogsSource(CloudWatchLogsSourceConfig(**settings), positions, client=client,
                                clock=clock or FakeClock(0.0), page_limit=page_limit)


def test_pagination_reads_every_event_once(logs):
    put(logs, "stream-a", *range(0, 25, 2))
    put(logs, "stream-b", *range(1, 25, 2))
    source = make_source(logs, page_limit=5)
    assert sorted(source.poll()) == sorted(lines(*range(25)))


def test_new_events_after_poll_interval(logs):
    clock = FakeClock(0.0)
    put(logs, "stream-a", 1, 2)
    source = make_source(logs, clock=clock)
    assert source.poll() == lines(1, 2)
    put(logs, "stream-a", 3)
    assert source.poll() == []
    clock.now += 30
    assert source.poll() == lines(3)
    clock.now += 30
    assert source.poll() == []


def test_late_event_within_lookback_is_read_once(logs):
    clock = FakeClock(0.0)
    put(logs, "stream-a", 10)
    source = make_source(logs, clock=clock, lookback="120s")
    assert source.poll() == lines(10)
    put(logs, "stream-b", 5)  # five seconds older than the newest event read
    clock.now += 30
    assert source.poll() == lines(5)
    clock.now += 30
    assert source.poll() == []


def test_restart_repeats_no_event(logs):
    put(logs, "stream-a", 1, 2, 3)
    first = make_source(logs)
    assert first.poll() == lines(1, 2, 3)
    put(logs, "stream-a", 4)
    second = make_source(logs, first.positions())
    assert second.poll() == lines(4)


def test_restart_in_middle_of_pagination(logs):
    put(logs, "stream-a", *range(12))
    first = make_source(logs, page_limit=5)
    before = first.poll(max_bytes=20)  # stops after the first page
    assert len(before) == 5
    second = make_source(logs, first.positions(), page_limit=5)
    assert before + second.poll() == lines(*range(12))


def test_start_at_end_skips_existing_events(logs):
    clock = FakeClock(0.0)
    put(logs, "stream-a", 1)
    source = CloudWatchLogsSource(
        CloudWatchLogsSourceConfig(name="bedrock", type="cloudwatch_logs", log_group=GROUP, start_at="end"),
        None, client=logs, clock=clock, wall_clock=lambda: (BASE_MS + 5000) / 1000)
    assert source.poll() == []
    put(logs, "stream-a", 9)
    clock.now += 30
    assert source.poll() == lines(9)


def test_missing_log_group_is_counted_not_fatal(logs):
    source = CloudWatchLogsSource(
        CloudWatchLogsSourceConfig(name="bedrock", type="cloudwatch_logs", log_group="/no/such/group"),
        None, client=logs, clock=FakeClock(0.0))
    assert source.poll() == []
    assert source.up is False
    assert source.errors == {"ResourceNotFoundException": 1.0}
