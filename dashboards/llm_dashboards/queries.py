"""Every PromQL expression of the dashboards.

A `Scope` combines the shared settings with the template variables of one dashboard
and builds each selector from the labels the metric carries. A variable only filters
metrics that have its label, so picking a feature never empties a panel of a metric
without a `feature` label. Windows and thresholds that an alert also uses come from
the settings, so the dashboard shows what the alert evaluates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .grafana import Query
from .settings import Settings

ATTRIBUTION = ("feature", "intent", "cohort", "cost_center", "product_line")
# Label that Prometheus adds to tell clusters apart (an external or relabelled label).
CLUSTER_LABEL = "cluster"

# Labels of each exported metric that a template variable may filter on.
METRIC_LABELS: dict[str, tuple[str, ...]] = {
    "llm_tokens_total": ATTRIBUTION,
    "llm_cost_usd_total": ATTRIBUTION,
    "llm_calls_total": ATTRIBUTION,
    "llm_retries_total": ("feature",),
    "llm_retry_cost_usd_total": ("feature",),
    "llm_tool_calls_total": ("feature",),
    "llm_request_cost_usd": ("feature", "intent", "cohort"),
    "llm_request_model_calls": ("feature", "intent"),
    "llm_request_tool_calls": ("feature", "intent"),
    "llm_user_spend_usd": ("cohort",),
    "llm_active_users": ("cohort",),
    "llm_top_user_spend_usd": ("cohort",),
    "llm_prompt_prefixes": ("feature",),
    "llm_budget_usd": ("budget",),
    "llm_budget_spend_usd": ("budget",),
    "llm_budget_period_start_timestamp_seconds": ("budget",),
    "llm_budget_period_end_timestamp_seconds": ("budget",),
    "llm_vendor_cost_usd_total": (),
    "llm_vendor_data_end_timestamp_seconds": (),
    "llm_breaker_open": (),
    "llm_exporter_source_up": (),
    "llm_exporter_source_last_success_timestamp_seconds": (),
    "llm_exporter_events_total": (),
    "llm_exporter_events_rejected_total": (),
    "llm_exporter_unpriced_tokens_total": (),
    "llm_exporter_label_overflow_total": (),
    "llm_exporter_build_info": (),
}

# Token types that make up the prompt: the cache-hit ratio is cache_read over all three.
PROMPT_TOKEN_TYPES = "input|cache_read|cache_write"
QUANTILES = (("P50", "0.5"), ("P95", "0.95"), ("P99", "0.99"))
# Window of rates that no alert shares: Grafana sets it to at least four scrape intervals.
RATE = "$__rate_interval"
# Spend panels show USD per hour: rate() returns USD per second.
PER_HOUR = 3600


@dataclass(frozen=True)
class Scope:
    """The settings plus the template variables of one dashboard."""

    settings: Settings
    variables: frozenset[str]

    def sel(self, metric: str, attribution: bool = True, **fixed: str) -> str:
        """Build the selector of `metric`: the shared matchers, then variables, then `fixed`.

        The shared matchers (job, and cluster where the values pin one) are the ones
        the alert rules use. A fixed value containing `|` becomes a regex match. With
        `attribution` false only the shared matchers and the cluster variable apply,
        for queries that compare with data that carries no attribution labels.
        """
        base_metric = metric.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        if base_metric not in METRIC_LABELS:
            raise KeyError(f"metric {metric!r} is not in the metric catalogue")
        matchers = [f'{label}="{value}"' for label, value in self.settings.selector.items()]
        if CLUSTER_LABEL in self.variables and CLUSTER_LABEL not in self.settings.selector:
            matchers.append(f'{CLUSTER_LABEL}=~"${CLUSTER_LABEL}"')
        if attribution:
            for label in METRIC_LABELS[base_metric]:
                if label in self.variables and label not in fixed:
                    matchers.append(f'{label}=~"${label}"')
        for label, value in fixed.items():
            operator = "=~" if "|" in value else "="
            matchers.append(f'{label}{operator}"{value}"')
        return f"{metric}{{{', '.join(matchers)}}}"


def _legend(labels: Iterable[str]) -> str:
    return " ".join(f"{{{{{label}}}}}" for label in labels)


# Cost overview


def spend_per_hour(s: Scope) -> Query:
    window = s.settings.burn_long_window
    return Query(f"sum(rate({s.sel('llm_cost_usd_total')}[{window}])) * {PER_HOUR}", f"spend, last {window}")


def spend_in_range(s: Scope) -> Query:
    return Query(f"sum(increase({s.sel('llm_cost_usd_total')}[$__range]))", "spend", instant=True)


def requests_per_second(s: Scope) -> Query:
    return Query(f"sum(rate({s.sel('llm_request_cost_usd_count')}[{RATE}]))", "requests")


def mean_cost_per_request(s: Scope) -> Query:
    total = f"sum(rate({s.sel('llm_request_cost_usd_sum')}[{RATE}]))"
    count = f"sum(rate({s.sel('llm_request_cost_usd_count')}[{RATE}]))"
    return Query(f"{total} / {count}", "mean cost per request")


def spend_against_baseline(s: Scope) -> list[Query]:
    """Spend per hour over the burn-rate alert's windows, its baseline and the alert level."""
    long = s.settings.burn_long_window
    short = s.settings.burn_short_window
    baseline = s.settings.burn_baseline_window
    factor = s.settings.burn_factor
    metric = s.sel("llm_cost_usd_total")
    return [
        Query(f"sum(rate({metric}[{long}])) * {PER_HOUR}", f"spend, last {long}"),
        Query(f"sum(rate({metric}[{short}])) * {PER_HOUR}", f"spend, last {short}"),
        Query(f"sum(rate({metric}[{baseline}])) * {PER_HOUR}", f"{baseline} average"),
        Query(
            f"sum(rate({metric}[{baseline}])) * {PER_HOUR} * {factor:g}",
            f"alert level ({factor:g}x {baseline} average)",
        ),
    ]


def burn_rate_by_group(s: Scope) -> list[Query]:
    """Spend rate over the alert's long and short windows divided by the baseline rate, per group."""
    group = ", ".join(s.settings.burn_group_by)
    baseline = s.settings.burn_baseline_window
    metric = s.sel("llm_cost_usd_total")
    return [
        Query(
            f"sum by ({group}) (rate({metric}[{window}])) / sum by ({group}) (rate({metric}[{baseline}]))",
            f"{_legend(s.settings.burn_group_by)}, last {window}",
        )
        for window in (s.settings.burn_long_window, s.settings.burn_short_window)
    ]


def spend_per_hour_by_group(s: Scope) -> Query:
    group = ", ".join(s.settings.burn_group_by)
    window = s.settings.burn_long_window
    metric = s.sel("llm_cost_usd_total")
    return Query(f"sum by ({group}) (rate({metric}[{window}])) * {PER_HOUR}", _legend(s.settings.burn_group_by))


def cost_per_request_quantiles(s: Scope, label: str = "feature") -> list[Query]:
    metric = s.sel("llm_request_cost_usd_bucket")
    return [
        Query(
            f"histogram_quantile({quantile}, sum by ({label}, le) (rate({metric}[{RATE}])))",
            f"{name} {{{{{label}}}}}",
        )
        for name, quantile in QUANTILES
    ]


def requests_by(s: Scope, label: str) -> Query:
    return Query(f"sum by ({label}) (rate({s.sel('llm_request_cost_usd_count')}[{RATE}]))", f"{{{{{label}}}}}")


def _budget(s: Scope, metric: str, offset: str = "", **fixed: str) -> str:
    shift = f" offset {offset}" if offset else ""
    return f"sum by (budget, period) ({s.sel(metric, **fixed)}{shift})"


def _projection(s: Scope) -> str:
    """Period spend projected to the period end, computed as the projected-overrun alert does.

    The spend rate is the spend change over the projection window of the budget's
    period divided by its length. It is defined only once the period is older than the
    window. The projection is spend + (spend - spend offset w) / w * (end - now). The spend is a gauge that
    survives exporter restarts, so no counter reset breaks the difference.
    """
    spend = _budget(s, "llm_budget_spend_usd")
    end = f"max by (budget, period) ({s.sel('llm_budget_period_end_timestamp_seconds')})"
    rates = []
    for period, window in sorted(s.settings.projection_windows.items()):
        seconds = f"{s.settings.seconds(window):g}"
        now = _budget(s, "llm_budget_spend_usd", period=period)
        earlier = _budget(s, "llm_budget_spend_usd", offset=window, period=period)
        start = f"max by (budget, period) ({s.sel('llm_budget_period_start_timestamp_seconds', period=period)})"
        rates.append(f"(({now} - {earlier}) / {seconds} and on (budget, period) {start} < time() - {seconds})")
    rate = " or ".join(rates)
    return f"{spend} + ({rate}) * ({end} - time())"


def budget_spend(s: Scope) -> list[Query]:
    """Period-to-date spend, the budget, and the spend projected to the period end."""
    return [
        Query(_budget(s, "llm_budget_spend_usd"), "{{budget}} spend"),
        Query(f"max by (budget, period) ({s.sel('llm_budget_usd')})", "{{budget}} budget"),
        Query(_projection(s), "{{budget}} projected at period end"),
    ]


def budget_projected_use(s: Scope) -> Query:
    budget = f"max by (budget, period) ({s.sel('llm_budget_usd')})"
    return Query(f"({_projection(s)}) / {budget}", "{{budget}}")


def breakers_open(s: Scope) -> Query:
    # The gauge has a series only while the breaker keeps a key open.
    return Query(f"sum({s.sel('llm_breaker_open')}) or vector(0)", "open breakers")


# Telemetry health


def sources_up(s: Scope) -> Query:
    return Query(f"min by (source) ({s.sel('llm_exporter_source_up')})", "{{source}}")


def source_age(s: Scope) -> Query:
    metric = s.sel("llm_exporter_source_last_success_timestamp_seconds")
    return Query(f"time() - max by (source) ({metric})", "{{source}}")


def rejected_share(s: Scope) -> Query:
    """Share of records rejected per source, over the rejected-events alert's window."""
    window = s.settings.rejected_window
    rejected = s.sel("llm_exporter_events_total", result="rejected")
    events = s.sel("llm_exporter_events_total")
    # No rejected series exists until the first rejection, so a missing one counts as 0.
    return Query(
        f"(sum by (source) (rate({rejected}[{window}])) or sum by (source) (rate({events}[{window}])) * 0)"
        f" / sum by (source) (rate({events}[{window}]))",
        "{{source}}",
    )


def telemetry_problems(s: Scope) -> list[Query]:
    """Rates of rejected records, unpriced tokens and label overflow; zero while none occurred."""
    return [
        Query(
            f"sum by (reason) (rate({s.sel('llm_exporter_events_rejected_total')}[{RATE}]))"
            ' or on () label_replace(vector(0), "reason", "none", "", "")',
            "rejected: {{reason}}",
        ),
        Query(
            f"sum(rate({s.sel('llm_exporter_unpriced_tokens_total')}[{RATE}])) or vector(0)",
            "unpriced tokens",
        ),
        Query(
            f"sum(rate({s.sel('llm_exporter_label_overflow_total')}[{RATE}])) or vector(0)",
            "label overflow",
        ),
    ]


# Unit economics


def tokens_by_type(s: Scope, label: str = "intent") -> Query:
    return Query(
        f"sum by ({label}, token_type) (rate({s.sel('llm_tokens_total')}[{RATE}]))",
        f"{{{{{label}}}}} {{{{token_type}}}}",
    )


def output_per_input_token(s: Scope, label: str = "intent") -> Query:
    output = s.sel("llm_tokens_total", token_type="output")
    prompt = s.sel("llm_tokens_total", token_type=PROMPT_TOKEN_TYPES)
    return Query(
        f"sum by ({label}) (rate({output}[{RATE}])) / sum by ({label}) (rate({prompt}[{RATE}]))",
        f"{{{{{label}}}}}",
    )


def mean_cost_per_request_by(s: Scope, label: str) -> Query:
    total = f"sum by ({label}) (rate({s.sel('llm_request_cost_usd_sum')}[{RATE}]))"
    count = f"sum by ({label}) (rate({s.sel('llm_request_cost_usd_count')}[{RATE}]))"
    return Query(f"{total} / {count}", f"{{{{{label}}}}}")


def _mean_cost_per_request(s: Scope, offset: str = "") -> str:
    window = s.settings.anomaly_window
    group = ", ".join(s.settings.anomaly_group_by)
    shift = f" offset {offset}" if offset else ""
    total = f"sum by ({group}) (rate({s.sel('llm_request_cost_usd_sum')}[{window}]{shift}))"
    count = f"sum by ({group}) (rate({s.sel('llm_request_cost_usd_count')}[{window}]{shift}))"
    return f"{total} / {count}"


def cost_per_request_against_last_week(s: Scope) -> list[Query]:
    """Mean cost per request over the anomaly alert's window and grouping, now and one week earlier."""
    legend = _legend(s.settings.anomaly_group_by)
    return [
        Query(_mean_cost_per_request(s), legend),
        Query(_mean_cost_per_request(s, offset="1w"), f"{legend}, one week earlier"),
    ]


def price_per_million_tokens(s: Scope) -> Query:
    cost = f"sum by (provider, model) (rate({s.sel('llm_cost_usd_total')}[{RATE}]))"
    tokens = f"sum by (provider, model) (rate({s.sel('llm_tokens_total')}[{RATE}]))"
    return Query(f"{cost} / {tokens} * 1e6", "{{provider}} {{model}}")


def _mean_calls(s: Scope, histogram: str, offset: str = "") -> str:
    window = s.settings.multiplicity_window
    group = ", ".join(s.settings.multiplicity_group_by)
    shift = f" offset {offset}" if offset else ""
    total = s.sel(f"{histogram}_sum")
    count = s.sel(f"{histogram}_count")
    return f"sum by ({group}) (rate({total}[{window}]{shift})) / sum by ({group}) (rate({count}[{window}]{shift}))"


def calls_per_request(s: Scope, histogram: str) -> list[Query]:
    """Mean calls per request over the drift alert's window and grouping, now and one week earlier."""
    legend = _legend(s.settings.multiplicity_group_by)
    return [
        Query(_mean_calls(s, histogram), legend),
        Query(_mean_calls(s, histogram, offset="1w"), f"{legend}, one week earlier"),
    ]


def calls_per_request_change(s: Scope, histogram: str, legend_prefix: str = "") -> Query:
    """Relative change of mean calls per request against one week earlier (0.25 is +25%)."""
    now = _mean_calls(s, histogram)
    week_ago = _mean_calls(s, histogram, offset="1w")
    return Query(f"({now}) / ({week_ago}) - 1", f"{legend_prefix}{_legend(s.settings.multiplicity_group_by)}")


def _cache_hit_ratio(s: Scope, window: str, group: tuple[str, ...] = (), offset: str = "") -> str:
    grouping = f" by ({', '.join(group)})" if group else ""
    shift = f" offset {offset}" if offset else ""
    cached = s.sel("llm_tokens_total", token_type="cache_read")
    prompt = s.sel("llm_tokens_total", token_type=PROMPT_TOKEN_TYPES)
    return f"sum{grouping} (rate({cached}[{window}]{shift})) / sum{grouping} (rate({prompt}[{window}]{shift}))"


def cache_hit_ratio(s: Scope) -> list[Query]:
    """Cache-hit ratio over the windows the drop alert compares."""
    fast = s.settings.cache_fast_window
    day = s.settings.cache_week_window
    return [
        Query(_cache_hit_ratio(s, fast), f"last {fast}"),
        Query(_cache_hit_ratio(s, day), f"last {day}"),
        Query(_cache_hit_ratio(s, day, offset="1w"), f"last {day}, one week earlier"),
    ]


def cache_hit_ratio_week_over_week(s: Scope) -> Query:
    """Change in ratio points of the cache-hit ratio against the same window one week earlier."""
    group = s.settings.cache_group_by
    window = s.settings.cache_week_window
    now = _cache_hit_ratio(s, window, group)
    week_ago = _cache_hit_ratio(s, window, group, offset="1w")
    return Query(f"({now}) - ({week_ago})", _legend(group))


def cache_hit_ratio_hour_over_day(s: Scope) -> Query:
    """Change in ratio points of the cache-hit ratio of the last hour against the last day."""
    group = s.settings.cache_group_by
    fast = _cache_hit_ratio(s, s.settings.cache_fast_window, group)
    baseline = _cache_hit_ratio(s, s.settings.cache_fast_baseline_window, group)
    return Query(f"({fast}) - ({baseline})", _legend(group))


def prompt_prefixes(s: Scope) -> Query:
    metric = s.sel("llm_prompt_prefixes", window=s.settings.prefix_window)
    return Query(f"max by (feature) ({metric})", "{{feature}}")


def retry_cost_per_hour(s: Scope) -> Query:
    metric = s.sel("llm_retry_cost_usd_total")
    return Query(f"sum by (error_class) (rate({metric}[{RATE}])) * {PER_HOUR}", "{{error_class}}")


def retry_cost_share(s: Scope) -> Query:
    """Retry cost of each error class as a share of its group's spend, over the alert's window."""
    window = s.settings.retry_window
    group = ", ".join(s.settings.retry_group_by)
    retries = s.sel("llm_retry_cost_usd_total")
    # Filter spend like the retry counters, which carry `feature` and no other attribution.
    narrowed = Scope(s.settings, s.variables & {CLUSTER_LABEL, "feature"})
    spend = narrowed.sel("llm_cost_usd_total")
    return Query(
        f"sum by ({group}, error_class) (rate({retries}[{window}]))"
        f" / on ({group}) group_left sum by ({group}) (rate({spend}[{window}]))",
        f"{_legend(s.settings.retry_group_by)} {{{{error_class}}}}",
    )


def retries_per_second(s: Scope) -> Query:
    metric = s.sel("llm_retries_total")
    return Query(f"sum by (error_class) (rate({metric}[{RATE}]))", "{{error_class}}")


# Cohorts


def user_spend_quantiles(s: Scope) -> Query:
    metric = s.sel("llm_user_spend_usd", window="$window")
    return Query(f"max by (cohort, quantile) ({metric})", "{{cohort}} q{{quantile}}")


def _heavy_user_spend(s: Scope) -> str:
    window = s.settings.heavy_user_window
    quantile = s.settings.heavy_user_quantile
    return f"max by (cohort) ({s.sel('llm_user_spend_usd', window=window, quantile=quantile)})"


def heavy_user_spend(s: Scope) -> Query:
    """Select the heavy-user alert's quantile of per-user spend per cohort, over the alert's window."""
    return Query(_heavy_user_spend(s), "{{cohort}}")


def heavy_user_spend_over_assumption(s: Scope) -> Query:
    """Divide the heavy-user quantile's spend by the spend that its cohort's pricing assumes.

    Cohorts without an assumption of their own are divided by the default assumption.
    """
    spend = _heavy_user_spend(s)
    listed = [
        f'label_replace(vector({usd:g}), "cohort", "{cohort}", "", "")'
        for cohort, usd in sorted(s.settings.heavy_user_assumptions_usd.items())
    ]
    default = f"({spend} * 0 + {s.settings.heavy_user_default_assumption_usd:g})"
    assumptions = " or ".join([*listed, default])
    return Query(f"{spend} / on (cohort) ({assumptions})", "{{cohort}}")


def active_users(s: Scope) -> Query:
    metric = s.sel("llm_active_users", window="$window")
    return Query(f"sum by (cohort) ({metric})", "{{cohort}}")


def spend_per_active_user(s: Scope) -> Query:
    cost = s.sel("llm_cost_usd_total")
    users = s.sel("llm_active_users", window="$window")
    return Query(f"sum by (cohort) (increase({cost}[$window])) / sum by (cohort) ({users})", "{{cohort}}")


def top_users(s: Scope) -> Query:
    metric = s.sel("llm_top_user_spend_usd", window="$window")
    return Query(f"sort_desc(max by (cohort, user) ({metric}))", "", instant=True, table=True)


# Finance


def spend_in_range_by(s: Scope, label: str, limit: int | None = None) -> Query:
    expr = f"sum by ({label}) (increase({s.sel('llm_cost_usd_total')}[$__range]))"
    if limit is not None:
        expr = f"topk({limit}, {expr})"
    return Query(f"sort_desc({expr})", "", instant=True, table=True)


def spend_per_hour_by(s: Scope, label: str) -> Query:
    metric = s.sel("llm_cost_usd_total")
    return Query(f"sum by ({label}) (rate({metric}[{RATE}])) * {PER_HOUR}", f"{{{{{label}}}}}")


def budget_table(s: Scope) -> list[Query]:
    spend = f"max by (budget, period) ({s.sel('llm_budget_spend_usd')})"
    budget = f"max by (budget, period) ({s.sel('llm_budget_usd')})"
    return [
        Query(spend, "spend", instant=True, table=True),
        Query(budget, "budget", instant=True, table=True),
        Query(f"{spend} / {budget}", "use", instant=True, table=True),
    ]


def _gateway_and_vendor(s: Scope) -> tuple[str, str]:
    """Gateway and vendor cost per provider over the reconciliation window.

    Vendor cost APIs report complete days late, so the gateway side is shifted back
    by the vendor delay, as the reconciliation alert does. No attribution filter
    applies because vendor cost carries no attribution labels.
    """
    window = s.settings.reconciliation_window
    delay = s.settings.vendor_delay
    gateway = s.sel("llm_cost_usd_total", attribution=False)
    vendor = s.sel("llm_vendor_cost_usd_total", attribution=False)
    return (
        f"sum by (provider) (increase({gateway}[{window}] offset {delay}))",
        f"sum by (provider) (increase({vendor}[{window}]))",
    )


def gateway_and_vendor_cost(s: Scope) -> list[Query]:
    gateway, vendor = _gateway_and_vendor(s)
    window = s.settings.reconciliation_window
    return [
        Query(gateway, f"{{{{provider}}}} gateway, {window} ending {s.settings.vendor_delay} ago"),
        Query(vendor, f"{{{{provider}}}} vendor, last {window}"),
    ]


def reconciliation_gap(s: Scope) -> Query:
    gateway, vendor = _gateway_and_vendor(s)
    return Query(f"({gateway} - {vendor}) / {vendor}", "{{provider}}")


def vendor_data_age(s: Scope) -> Query:
    metric = s.sel("llm_vendor_data_end_timestamp_seconds", attribution=False)
    return Query(f"time() - max by (provider) ({metric})", "{{provider}}")
