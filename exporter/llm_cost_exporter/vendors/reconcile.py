"""Gateway cost against vendor-reported cost over complete UTC days.

Gateway cost comes from Prometheus: `sum by (provider) (increase(llm_cost_usd_total{selector}[range]))`
evaluated at the end of the last day. Vendor cost comes from each configured source that has a cost
report (openai_usage and anthropic_usage with `costs: true`, aws_cost_explorer), read directly from the
vendor for the same days. The gap is (gateway - vendor) / vendor, in percent.

NOTE: increase() extrapolates when a series starts or stops inside the range (a new model, a pod that
went away), so the gateway side can be off by up to about one scrape interval of that series' spend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import requests

from .errors import VendorError
from .registry import VENDOR_FACTORIES

DAY = 86400


class ReconcileError(Exception):
    """Reconciliation could not run: bad dates, an unreachable Prometheus or a failed vendor read."""


@dataclass(frozen=True)
class Row:
    provider: str
    gateway_usd: float | None
    vendor_usd: float | None

    @property
    def gap_percent(self) -> float | None:
        """(gateway - vendor) / vendor in percent; None without vendor data, inf for cost the vendor did not bill."""
        if self.vendor_usd is None:
            return None
        gateway = self.gateway_usd or 0.0
        if self.vendor_usd == 0:
            return 0.0 if gateway == 0 else math.inf
        return (gateway - self.vendor_usd) / self.vendor_usd * 100


def day_bounds(first: date, last: date, today: date) -> tuple[float, float]:
    """Return [start, end) in Unix seconds of the UTC days first..last, both included; all must be complete."""
    if last < first:
        raise ReconcileError(f"--to {last} is before --from {first}")
    if last >= today:
        raise ReconcileError(f"--to {last} is not a complete UTC day yet; use {today - timedelta(days=1)} or earlier")
    start = datetime(first.year, first.month, first.day, tzinfo=timezone.utc).timestamp()
    return start, start + ((last - first).days + 1) * DAY


def gateway_cost(prometheus_url: str, selector: str, start: float, end: float,
                 timeout: float = 30.0) -> dict[str, float]:
    """Return gateway cost per provider over [start, end) from Prometheus' HTTP API."""
    expression = f"sum by (provider) (increase(llm_cost_usd_total{{{selector}}}[{int(end - start)}s]))"
    try:
        response = requests.get(f"{prometheus_url.rstrip('/')}/api/v1/query",
                                params={"query": expression, "time": f"{end:.0f}"}, timeout=timeout)
        body = response.json()
    except requests.RequestException as err:
        raise ReconcileError(f"querying Prometheus at {prometheus_url} failed: {type(err).__name__}") from None
    except ValueError:
        raise ReconcileError(f"Prometheus at {prometheus_url} returned a response that is not JSON "
                             f"(HTTP {response.status_code})") from None
    if body.get("status") != "success":
        raise ReconcileError(f"Prometheus rejected the query {expression!r}: {body.get('error')}")
    return {series["metric"].get("provider", ""): float(series["value"][1]) for series in body["data"]["result"]}


def vendor_cost(sources, start: float, end: float) -> dict[str, float]:
    """Return vendor cost per provider over [start, end) from every source that has a cost report."""
    totals: dict[str, float] = {}
    for config in sources:
        factory = VENDOR_FACTORIES.get(config.type)
        if factory is None:
            continue
        poller = factory(config)
        try:
            cost = poller.cost_between(start, end)
        except VendorError as err:
            raise ReconcileError(f"reading costs of source {config.name!r} failed ({err.error_class}): {err}") from None
        finally:
            poller.close()
        if cost is not None:
            totals[config.provider] = totals.get(config.provider, 0.0) + cost
    return totals


def compare(gateway: dict[str, float], vendor: dict[str, float]) -> list[Row]:
    providers = sorted(set(gateway) | set(vendor))
    return [Row(provider, gateway.get(provider), vendor.get(provider)) for provider in providers]


def format_table(rows: list[Row]) -> str:
    lines = [f"{'provider':<16} {'gateway USD':>14} {'vendor USD':>14} {'gap %':>9}"]
    for row in rows:
        gateway = f"{row.gateway_usd:.4f}" if row.gateway_usd is not None else "-"
        vendor = f"{row.vendor_usd:.4f}" if row.vendor_usd is not None else "-"
        gap = row.gap_percent
        if gap is None:
            gap_text = "n/a"
        elif math.isinf(gap):
            gap_text = "inf"
        else:
            gap_text = f"{gap:+.2f}"
        lines.append(f"{row.provider:<16} {gateway:>14} {vendor:>14} {gap_text:>9}")
    return "\n".join(lines)
