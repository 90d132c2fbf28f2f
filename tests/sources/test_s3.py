"""The S3 source against moto: key order, pagination, gzip, new objects and restarts mid-object."""

from __future__ import annotations

import gzip

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from llm_cost_exporter.config.sources import S3SourceConfig
from llm_cost_exporter.sources.s3 import SETTLE_SECONDS, S3Source

BUCKET = "gateway-logs"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def s3(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def body(*numbers: int) -> bytes:
    return b"".join(b'{"n": %d}\n' % n for n in numbers)


def lines(*numbers: int) -> list[bytes]:
    return [b'{"n": %d}' % n for n in numbers]


def config(**extra) -> S3SourceConfig:
    return S3SourceConfig(**{"name": "bucket", "type": "s3", "bucket": BUCKET, "prefix": "logs/", **extra})


def make_source(client, positions=None, clock=None, **extra) -> S3Source:
    page_size = extra.pop("page_size", 1000)
    return S3Source(config(**extra), positions, client=client, clock=clock or FakeClock(0.0), page_size=page_size)


def drain(source: S3Source, polls: int = 10, **kwargs) -> list[bytes]:
    result = []
    for _ in range(polls):
        result += source.poll(**kwargs)
    return result


def test_objects_in_key_order_with_pagination(s3):
    for index in range(5):
        s3.put_object(Bucket=BUCKET, Key=f"logs/2026/01/05/{index:02d}.jsonl", Body=body(index))
    s3.put_object(Bucket=BUCKET, Key="other/ignored.jsonl", Body=body(99))
    source = make_source(s3, page_size=2)
    assert drain(source) == lines(0, 1, 2, 3, 4)


def test_gzip_object_is_decompressed(s3):
    s3.put_object(Bucket=BUCKET, Key="logs/a.jsonl.gz", Body=gzip.compress(body(1, 2)))
    s3.put_object(Bucket=BUCKET, Key="logs/b.jsonl", Body=gzip.compress(body(3)), ContentEncoding="gzip")
    assert drain(make_source(s3)) == lines(1, 2, 3)


def test_object_appearing_between_polls(s3):
    clock = FakeClock(0.0)
    s3.put_object(Bucket=BUCKET, Key="logs/01.jsonl", Body=body(1))
    source = make_source(s3, clock=clock)
    assert source.poll() == lines(1)
    s3.put_object(Bucket=BUCKET, Key="logs/02.jsonl", Body=body(2))
    assert source.poll() == []  # the next listing waits for poll_interval
    clock.now += 60
    assert source.poll() == lines(2)
    clock.now += 60
    assert source.poll() == []


def test_late_key_sorting_before_read_keys(s3):
    clock = FakeClock(0.0)
    s3.put_object(Bucket=BUCKET, Key="logs/10.jsonl", Body=body(10))
    source = make_source(s3, clock=clock)
    assert source.poll() == lines(10)
    s3.put_object(Bucket=BUCKET, Key="logs/05.jsonl", Body=body(5))
    clock.now += 60
    assert source.poll() == lines(5)


@pytest.mark.parametrize("compressed", [False, True])
def test_restart_in_middle_of_object(s3, compressed):
    data = body(*range(20))
    key = "logs/big.jsonl.gz" if compressed else "logs/big.jsonl"
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(data) if compressed else data)
    s3.put_object(Bucket=BUCKET, Key="logs/zz-next.jsonl", Body=body(20))
    first = make_source(s3, max_line_bytes=32)
    before = first.poll(max_bytes=60)
    assert 0 < len(before) < 20
    positions = first.positions()
    assert positions["current"]["key"] == key
    first.close()

    second = make_source(s3, positions, max_line_bytes=32)
    assert before + drain(second) == lines(*range(21))


def test_checkpoint_after_object_repeats_nothing(s3):
    s3.put_object(Bucket=BUCKET, Key="logs/01.jsonl", Body=body(1))
    first = make_source(s3)
    assert drain(first) == lines(1)
    second = make_source(s3, first.positions())
    assert drain(second) == []


def test_watermark_passes_settled_keys(s3):
    s3.put_object(Bucket=BUCKET, Key="logs/01.jsonl", Body=body(1))
    source = make_source(s3)
    source._wall_clock = lambda: 4e9  # long after the object's LastModified
    assert drain(source) == lines(1)
    assert source.positions()["watermark"] == "logs/01.jsonl"
    assert source.positions()["done"] == {}
    assert SETTLE_SECONDS > 0


def test_bedrock_data_objects_are_skipped(s3):
    prefix = "logs/AWSLogs/210987654321/BedrockModelInvocationLogs/eu-west-1/2026/01/05/00"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/20260105T001409Z_a1.json.gz", Body=gzip.compress(body(1)))
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/data/20260105T001409Z_a1_input.json.gz",
                  Body=gzip.compress(b'{"large": "body"}\n'))
    assert drain(make_source(s3, format="bedrock_invocation")) == lines(1)


def test_start_at_end_skips_existing_objects(s3):
    clock = FakeClock(0.0)
    for index in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"logs/{index:02d}.jsonl", Body=body(index))
    source = make_source(s3, clock=clock, start_at="end", page_size=2)
    assert drain(source) == []
    s3.put_object(Bucket=BUCKET, Key="logs/03.jsonl", Body=body(3))
    clock.now += 60
    assert source.poll() == lines(3)


def test_missing_bucket_is_counted_not_fatal(s3):
    source = S3Source(S3SourceConfig(name="bucket", type="s3", bucket="no-such-bucket"), None, client=s3,
                      clock=FakeClock(0.0))
    assert source.poll() == []
    assert source.up is False
    assert source.errors == {"NoSuchBucket": 1.0}


def test_failed_read_waits_poll_interval(s3):
    clock = FakeClock(0.0)
    s3.put_object(Bucket=BUCKET, Key="logs/01.jsonl", Body=body(1))
    source = make_source(s3, clock=clock)
    calls = {"count": 0}
    real_get = s3.get_object

    def failing_get(**kwargs):
        calls["count"] += 1
        if calls["count"] == 1:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")
        return real_get(**kwargs)

    source.client.get_object = failing_get
    assert source.poll() == []
    assert source.errors == {"AccessDenied": 1.0}
    assert source.poll() == []
    assert calls["count"] == 1
    clock.now += 60
    assert source.poll() == lines(1)
    assert source.up is True
