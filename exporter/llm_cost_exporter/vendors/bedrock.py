"""Token and invocation counts of the CloudWatch namespace AWS/Bedrock, per ModelId, through GetMetricData.

Each datapoint is the Sum over one `period`, timestamped at the period's start, so a period is a
bucket. CloudWatch keeps adding late datapoints for a few minutes, which the ledger's re-read of the
lookback window absorbs. Model ids come from `model_ids` or, when that is empty, from ListMetrics.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .aws import call, make_client
from .collector import REQUESTS, TOKENS
from .errors import VendorError
from .ledger import Bucket, series
from .poller import Hooks, StreamPoller

NAMESPACE = "AWS/Bedrock"
MAX_QUERIES = 500
MAX_PAGES = 1000

# CloudWatch metric -> (family, token_type). The cache metrics are documented for Converse usage and
# queried by public dashboards; a model that never caches simply returns no datapoints for them.
METRICS = {
    "InputTokenCount": (TOKENS, "input"),
    "OutputTokenCount": (TOKENS, "output"),
    "CacheReadInputTokenCount": (TOKENS, "cache_read"),
    "CacheWriteInputTokenCount": (TOKENS, "cache_write"),
    "Invocations": (REQUESTS, None),
}


class BedrockCloudWatchPoller(StreamPoller):
    """Sample output:

        llm_vendor_tokens_total{provider="bedrock",model="anthropic.claude-3-5-haiku-20241022-v1:0",token_type="input",project="none"} 18230.0
        llm_vendor_requests_total{provider="bedrock",model="anthropic.claude-3-5-haiku-20241022-v1:0",project="none"} 41.0
    """

    def __init__(self, config, hooks: Hooks | None = None, client=None) -> None:
        super().__init__(config, hooks)
        self._client = client
        self.add_stream("cloudwatch", config.period, config.lookback, self._fetch)

    def client(self):
        if self._client is None:
            self._client = make_client("cloudwatch", self.config)
        return self._client

    def model_ids(self) -> list[str]:
        if self.config.model_ids:
            return list(self.config.model_ids)
        found: set[str] = set()
        token = None
        for _ in range(MAX_PAGES):
            kwargs = {"Namespace": NAMESPACE}
            if token:
                kwargs["NextToken"] = token
            page = call("ListMetrics", self.client().list_metrics, self.count_error, **kwargs)
            for metric in page.get("Metrics", []):
                dimensions = metric.get("Dimensions", [])
                if len(dimensions) == 1 and dimensions[0].get("Name") == "ModelId":
                    found.add(dimensions[0]["Value"])
            token = page.get("NextToken")
            if not token:
                return sorted(found)
        raise VendorError("invalid_response", f"ListMetrics returned more than {MAX_PAGES} pages")

    def _fetch(self, start: float, end: float) -> list[Bucket]:
        models = self.model_ids()
        queries, meaning = [], {}
        for model_index, model in enumerate(models):
            for metric_index, (metric, (family, token_type)) in enumerate(METRICS.items()):
                query_id = f"m{model_index}_{metric_index}"
                meaning[query_id] = (model, family, token_type)
                queries.append({"Id": query_id, "ReturnData": True, "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": metric,
                               "Dimensions": [{"Name": "ModelId", "Value": model}]},
                    "Period": int(self.config.period), "Stat": "Sum"}})
        buckets: dict[float, Bucket] = {}
        for offset in range(0, len(queries), MAX_QUERIES):
            self._read(queries[offset:offset + MAX_QUERIES], meaning, start, end, buckets)
        return list(buckets.values())

    def _read(self, queries: list[dict], meaning: dict, start: float, end: float,
              buckets: dict[float, Bucket]) -> None:
        token = None
        for _ in range(MAX_PAGES):
            kwargs = {"MetricDataQueries": queries, "StartTime": datetime.fromtimestamp(start, timezone.utc),
                      "EndTime": datetime.fromtimestamp(end, timezone.utc), "ScanBy": "TimestampAscending"}
            if token:
                kwargs["NextToken"] = token
            page = call("GetMetricData", self.client().get_metric_data, self.count_error, **kwargs)
            for result in page.get("MetricDataResults", []):
                if result.get("Id") not in meaning:
                    continue
                model, family, token_type = meaning[result["Id"]]
                labels = {"provider": self.provider, "model": model}
                labels.update({"token_type": token_type, "project": "none"} if token_type else {"project": "none"})
                for moment, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                    bucket_start = moment.timestamp()
                    bucket = buckets.setdefault(bucket_start, Bucket(bucket_start, bucket_start + self.config.period))
                    bucket.add(series(family, **labels), float(value))
            token = page.get("NextToken")
            if not token:
                return
        raise VendorError("invalid_response", f"GetMetricData returned more than {MAX_PAGES} pages")
