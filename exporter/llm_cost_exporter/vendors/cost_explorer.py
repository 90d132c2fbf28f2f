"""Daily Bedrock cost by usage type from Cost Explorer (GetCostAndUsage), through boto3.

Cost Explorer marks recent days `Estimated` and revises them for up to about two days, so the
default lookback is three days. Every request is billed, so the default interval is six hours.
`TimePeriod.End` is exclusive; the window ends with tomorrow's date so today's partial day is read.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from .aws import call, make_client
from .collector import COST
from .errors import VendorError
from .ledger import Bucket, series
from .poller import Hooks, StreamPoller, label_value

DAY = 86400.0
MAX_PAGES = 1000


class CostExplorerPoller(StreamPoller):
    """Sample output:

        llm_vendor_cost_usd_total{provider="bedrock",project="none",line_item="EU-Claude3.7Sonnet-input-tokens"} 4.1133
    """

    def __init__(self, config, hooks: Hooks | None = None, client=None) -> None:
        super().__init__(config, hooks)
        self._client = client
        self.add_stream("costs", DAY, max(config.lookback, DAY), self._fetch)

    def client(self):
        if self._client is None:
            self._client = make_client("ce", self.config)
        return self._client

    def _fetch(self, start: float, end: float) -> list[Bucket]:
        first = datetime.fromtimestamp(start, timezone.utc).date()
        last = datetime.fromtimestamp(end, timezone.utc)
        # An end exactly at midnight excludes that day; any later moment includes its day.
        stop = last.date() if last == datetime(last.year, last.month, last.day, tzinfo=timezone.utc) \
            else last.date() + timedelta(days=1)
        request = {"TimePeriod": {"Start": first.isoformat(), "End": stop.isoformat()}, "Granularity": "DAILY",
                   "Metrics": [self.config.metric],
                   "Filter": {"Dimensions": {"Key": "SERVICE", "Values": list(self.config.services)}},
                   "GroupBy": [{"Type": "DIMENSION", "Key": key} for key in self.config.group_by]}
        buckets: list[Bucket] = []
        token = None
        for _ in range(MAX_PAGES):
            kwargs = dict(request, NextPageToken=token) if token else request
            page = call("GetCostAndUsage", self.client().get_cost_and_usage, self.count_error, **kwargs)
            for period in page.get("ResultsByTime", []):
                buckets.append(self._bucket(period))
            token = page.get("NextPageToken")
            if not token:
                return buckets
        raise VendorError("invalid_response", f"GetCostAndUsage returned more than {MAX_PAGES} pages")

    def _bucket(self, period: dict) -> Bucket:
        try:
            start = _day(period["TimePeriod"]["Start"])
            end = _day(period["TimePeriod"]["End"])
        except (KeyError, TypeError, ValueError):
            raise VendorError("invalid_response", "GetCostAndUsage: a result has no valid TimePeriod") from None
        bucket = Bucket(start, end)
        groups = period.get("Groups") or []
        if not groups and period.get("Total"):
            groups = [{"Keys": [], "Metrics": period["Total"]}]
        for group in groups:
            keys = dict(zip(self.config.group_by, group.get("Keys", [])))
            labels = {"provider": self.provider, "project": label_value(keys.get("LINKED_ACCOUNT")),
                      "line_item": label_value(keys.get("USAGE_TYPE"), "total")}
            bucket.add(series(COST, **labels), self._amount(group.get("Metrics", {})))
        return bucket

    def _amount(self, metrics: dict) -> float:
        entry = metrics.get(self.config.metric) or {}
        unit = entry.get("Unit", "USD")
        if unit != "USD":
            raise VendorError("invalid_response",
                              f"GetCostAndUsage: {self.config.metric} in {unit!r}; only USD is supported")
        try:
            amount = Decimal(str(entry.get("Amount", "0")))
        except InvalidOperation:
            raise VendorError("invalid_response",
                              f"GetCostAndUsage: amount {entry.get('Amount')!r} is not a number") from None
        # Credits and refunds show as negative amounts; the counter takes only the charges.
        return float(max(amount, Decimal(0)))


def _day(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
