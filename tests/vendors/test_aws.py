"""Bedrock CloudWatch metrics and Cost Explorer costs through boto3 against moto."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
import requests
from botocore.stub import ANY, Stubber
from moto import mock_aws

from llm_cost_exporter.config.sources import BedrockCloudWatchSourceConfig, CostExplorerSourceConfig
from llm_cost_exporter.vendors.bedrock import BedrockCloudWatchPoller
from llm_cost_exporter.vendors.cost_explorer import CostExplorerPoller

from .conftest import DAY, T0, by_family

HAIKU = "anthropic.claude-3-5-haiku-20241022-v1:0"
SONNET = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
MOTO_CE_RESULTS = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def put(cloudwatch, metric: str, model: str, moment: float, value: float) -> None:
    cloudwatch.put_metric_data(Namespace="AWS/Bedrock", MetricData=[{
        "MetricName": metric, "Dimensions": [{"Name": "ModelId", "Value": model}],
        "Timestamp": datetime.fromtimestamp(moment, timezone.utc), "Value": value, "Unit": "Count"}])


def tokens(poller) -> dict:
    poller.publish()
    return by_family(poller.totals(), "llm_vendor_tokens")


def token_key(model: str, token_type: str) -> tuple:
    return (("model", model), ("project", "none"), ("provider", "bedrock"), ("token_type", token_type))


@mock_aws
def test_bedrock_counts_tokens_and_revisions(hooks):
    now = datetime.now(timezone.utc).timestamp()  # moto keeps datapoints relative to the real clock
    now -= now % 300
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    put(cloudwatch, "InputTokenCount", HAIKU, now - 1200, 1000)
    put(cloudwatch, "InputTokenCount", HAIKU, now - 1190, 500)  # same 5-minute period: summed
    put(cloudwatch, "OutputTokenCount", HAIKU, now - 900, 80)
    put(cloudwatch, "CacheReadInputTokenCount", SONNET, now - 600, 7000)
    put(cloudwatch, "Invocations", HAIKU, now - 1200, 3)

    config = BedrockCloudWatchSourceConfig(name="bedrock", type="bedrock_cloudwatch", region="us-east-1",
                                           lookback=3600)
    poller = BedrockCloudWatchPoller(config, hooks)
    poller.poll(now + 1)
    assert poller.up
    assert tokens(poller) == {token_key(HAIKU, "input"): 1500, token_key(HAIKU, "output"): 80,
                              token_key(SONNET, "cache_read"): 7000}
    assert by_family(poller.totals(), "llm_vendor_requests") == {
        (("model", HAIKU), ("project", "none"), ("provider", "bedrock")): 3}

    put(cloudwatch, "OutputTokenCount", HAIKU, now - 880, 20)  # a late datapoint revises a period
    state = poller.export_state()
    restarted = BedrockCloudWatchPoller(config, hooks)
    restarted.restore(state)
    restarted.poll(now + 61)
    assert tokens(restarted)[token_key(HAIKU, "output")] == 100
    assert tokens(restarted)[token_key(HAIKU, "input")] == 1500


@mock_aws
def test_bedrock_configured_models_skip_discovery(hooks):
    now = datetime.now(timezone.utc).timestamp()
    now -= now % 300
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    put(cloudwatch, "InputTokenCount", HAIKU, now - 600, 10)
    put(cloudwatch, "InputTokenCount", SONNET, now - 600, 20)

    config = BedrockCloudWatchSourceConfig(name="bedrock", type="bedrock_cloudwatch", region="us-east-1",
                                           lookback=3600, model_ids=[SONNET])
    poller = BedrockCloudWatchPoller(config, hooks)
    poller.poll(now + 1)
    assert tokens(poller) == {token_key(SONNET, "input"): 20}


def test_bedrock_follows_next_token(hooks):
    client = boto3.client("cloudwatch", region_name="us-east-1")
    config = BedrockCloudWatchSourceConfig(name="bedrock", type="bedrock_cloudwatch", region="us-east-1",
                                           lookback=3600, model_ids=[HAIKU])
    poller = BedrockCloudWatchPoller(config, hooks, client=client)
    period = datetime.fromtimestamp(T0 - T0 % 300 - 600, timezone.utc)
    with Stubber(client) as stub:
        stub.add_response("get_metric_data", {"MetricDataResults": [
            {"Id": "m0_0", "Label": "InputTokenCount", "Timestamps": [period], "Values": [40.0],
             "StatusCode": "PartialData"}], "NextToken": "page-2"})
        stub.add_response("get_metric_data", {"MetricDataResults": [
            {"Id": "m0_0", "Label": "InputTokenCount", "Timestamps": [period], "Values": [2.0],
             "StatusCode": "Complete"}]},
            expected_params={"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY,
                             "ScanBy": "TimestampAscending", "NextToken": "page-2"})
        poller.poll(T0)
        stub.assert_no_pending_responses()
    assert poller.up
    assert tokens(poller) == {token_key(HAIKU, "input"): 42}


def test_bedrock_throttling_is_counted(hooks):
    client = boto3.client("cloudwatch", region_name="us-east-1")
    config = BedrockCloudWatchSourceConfig(name="bedrock", type="bedrock_cloudwatch", region="us-east-1",
                                           model_ids=[HAIKU])
    poller = BedrockCloudWatchPoller(config, hooks, client=client)
    with Stubber(client) as stub:
        stub.add_client_error("get_metric_data", "Throttling", "Rate exceeded", 400)
        poller.poll(T0)
    assert not poller.up
    assert poller.errors == {"rate_limit": 1}


def ce_page(days: dict[str, dict[str, str]], token: str | None = None) -> dict:
    """A GetCostAndUsage response: {day: {usage type: amount}}."""
    results = []
    for day, groups in days.items():
        end = datetime.fromtimestamp(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp() + DAY,
                                     timezone.utc).date().isoformat()
        results.append({"TimePeriod": {"Start": day, "End": end}, "Total": {}, "Estimated": True,
                        "Groups": [{"Keys": [usage_type], "Metrics": {"UnblendedCost": {"Amount": amount,
                                                                                         "Unit": "USD"}}}
                                   for usage_type, amount in groups.items()]})
    page = {"GroupDefinitions": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}], "ResultsByTime": results,
            "DimensionValueAttributes": []}
    if token:
        page["NextPageToken"] = token
    return page


def queue_ce(*pages: dict) -> None:
    response = requests.post(MOTO_CE_RESULTS, json={"results": list(pages)}, timeout=5)
    response.raise_for_status()


def cost_key(usage_type: str) -> tuple:
    return (("line_item", usage_type), ("project", "none"), ("provider", "bedrock"))


@mock_aws
def test_cost_explorer_pages_and_revisions(hooks):
    # 2026-12-03 10:30 UTC; the window is three days back plus today.
    queue_ce(ce_page({"2026-11-30": {"EU-Claude3.7Sonnet-input-tokens": "4.1133"},
                      "2026-12-01": {"EU-Claude3.7Sonnet-input-tokens": "2.0"}}, token="next"),
             ce_page({"2026-12-01": {"EU-Claude3.7Sonnet-cache-read-input-token-count": "0.9021"},
                      "2026-12-02": {}, "2026-12-03": {"EU-Claude3.7Sonnet-input-tokens": "0.5"}}))
    config = CostExplorerSourceConfig(name="cost-explorer", type="aws_cost_explorer")
    poller = CostExplorerPoller(config, hooks)
    poller.poll(T0)
    assert poller.up
    poller.publish()
    assert by_family(poller.totals(), "llm_vendor_cost_usd") == pytest.approx({
        cost_key("EU-Claude3.7Sonnet-input-tokens"): 4.1133 + 2.0 + 0.5,
        cost_key("EU-Claude3.7Sonnet-cache-read-input-token-count"): 0.9021})

    # A day later: 2026-12-03 is revised upward and 2026-12-04 appears; 2026-11-30 has settled.
    state = poller.export_state()
    queue_ce(ce_page({"2026-12-01": {"EU-Claude3.7Sonnet-input-tokens": "2.0",
                                     "EU-Claude3.7Sonnet-cache-read-input-token-count": "0.9021"},
                      "2026-12-02": {}, "2026-12-03": {"EU-Claude3.7Sonnet-input-tokens": "1.75"},
                      "2026-12-04": {"EU-Claude3.7Sonnet-output-tokens": "3.0"}}))
    restarted = CostExplorerPoller(config, hooks)
    restarted.restore(state)
    restarted.poll(T0 + DAY)
    restarted.publish()
    assert by_family(restarted.totals(), "llm_vendor_cost_usd") == pytest.approx({
        cost_key("EU-Claude3.7Sonnet-input-tokens"): 4.1133 + 2.0 + 1.75,
        cost_key("EU-Claude3.7Sonnet-cache-read-input-token-count"): 0.9021,
        cost_key("EU-Claude3.7Sonnet-output-tokens"): 3.0})


def test_cost_explorer_request_shape(hooks):
    client = boto3.client("ce", region_name="us-east-1")
    config = CostExplorerSourceConfig(name="cost-explorer", type="aws_cost_explorer")
    poller = CostExplorerPoller(config, hooks, client=client)
    with Stubber(client) as stub:
        stub.add_response("get_cost_and_usage", {"ResultsByTime": []}, expected_params={
            "TimePeriod": {"Start": "2026-11-30", "End": "2026-12-04"}, "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"], "Filter": {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Bedrock"]}},
            "GroupBy": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}]})
        poller.poll(T0)
        stub.assert_no_pending_responses()
    assert poller.up


def test_cost_explorer_denied_is_auth(hooks):
    client = boto3.client("ce", region_name="us-east-1")
    config = CostExplorerSourceConfig(name="cost-explorer", type="aws_cost_explorer")
    poller = CostExplorerPoller(config, hooks, client=client)
    with Stubber(client) as stub:
        stub.add_client_error("get_cost_and_usage", "AccessDeniedException", "not allowed", 400)
        poller.poll(T0)
    assert not poller.up
    assert poller.errors == {"auth": 1}


def test_bedrock_discovery_follows_next_token(hooks):
    client = boto3.client("cloudwatch", region_name="us-east-1")
    config = BedrockCloudWatchSourceConfig(name="bedrock", type="bedrock_cloudwatch", region="us-east-1")
    poller = BedrockCloudWatchPoller(config, hooks, client=client)

    def metric(name: str, dimensions: dict[str, str]) -> dict:
        return {"Namespace": "AWS/Bedrock", "MetricName": name,
                "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()]}

    with Stubber(client) as stub:
        stub.add_response("list_metrics", {"Metrics": [metric("InputTokenCount", {"ModelId": HAIKU}),
                                                       metric("ModelInvocationLogsS3DeliverySuccess", {})],
                                           "NextToken": "more"}, {"Namespace": "AWS/Bedrock"})
        stub.add_response("list_metrics", {"Metrics": [metric("Invocations", {"ModelId": SONNET}),
                                                       metric("InputTokenCount", {"ModelId": HAIKU})]},
                          {"Namespace": "AWS/Bedrock", "NextToken": "more"})
        assert poller.model_ids() == [HAIKU, SONNET]
        stub.assert_no_pending_responses()


@mock_aws
def test_cost_explorer_cost_between_days(hooks):
    queue_ce(ce_page({"2026-12-01": {"EU-Claude3.7Sonnet-input-tokens": "4.25"},
                      "2026-12-02": {"EU-Claude3.7Sonnet-output-tokens": "1.5",
                                     "EU-Claude3.7Sonnet-input-tokens": "2"}}))
    poller = CostExplorerPoller(CostExplorerSourceConfig(name="cost-explorer", type="aws_cost_explorer"), hooks)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()
    assert poller.cost_between(start, start + 2 * DAY) == pytest.approx(7.75)
