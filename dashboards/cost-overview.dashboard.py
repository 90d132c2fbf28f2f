"""Cost overview: spend now, cost per request, burn rate, budgets and telemetry health."""

from llm_dashboards import common, queries as q, variables
from llm_dashboards.common import COUNT, RATIO, REQUESTS_PER_SECOND, SECONDS, TIMES, USD
from llm_dashboards.grafana import DashboardSpec, SeriesStyle, Step, row, stat, timeseries
from llm_dashboards.settings import Settings

PERIOD_ADJECTIVES = {"day": "daily", "week": "weekly", "month": "monthly"}

UID = "llm-cost-overview"


def build(settings: Settings) -> DashboardSpec:
    template_variables = variables.standard(settings, "feature", "intent", "cohort", "budget")
    s = q.Scope(settings, variables.names(template_variables))
    burn_runbook = common.runbook(settings, "LLMSpendBurnRateHigh")
    budget_runbooks = (
        common.runbook(settings, "LLMBudgetProjectedOverrun"),
        common.runbook(settings, "LLMBudgetExhausted"),
    )
    factor = settings.burn_factor
    baseline = settings.burn_baseline_window
    group = ", ".join(settings.burn_group_by)

    spend_now = row(
        "Spend now",
        stat(
            f"Spend per hour (last {settings.burn_long_window})",
            "How fast money is being spent right now, in USD per hour, for the selected features.",
            [q.spend_per_hour(s)],
            USD,
            base_color="blue",
            decimals=2,
        ),
        stat(
            "Spend in the time range",
            "How much the selected features cost over the dashboard's time range.",
            [q.spend_in_range(s)],
            USD,
            base_color="blue",
            decimals=2,
        ),
        stat(
            "Requests per second",
            "How many user-initiated requests completed per second.",
            [q.requests_per_second(s)],
            REQUESTS_PER_SECOND,
            base_color="blue",
            width=4,
        ),
        stat(
            "Mean cost per request",
            "What one user-initiated request costs on average: total request cost over request count.",
            [q.mean_cost_per_request(s)],
            USD,
            base_color="blue",
            decimals=4,
            width=4,
        ),
        stat(
            "Open circuit breakers",
            "How many keys the circuit breaker currently throttles. Any open breaker shows red, and 0 also "
            "means that no breaker state is exported.",
            [q.breakers_open(s)],
            COUNT,
            steps=[Step(1, "red")],
            links=[burn_runbook],
            width=4,
        ),
    )

    per_request = row(
        "Cost per request",
        timeseries(
            "Cost per request P50 / P95 / P99 by feature",
            "What a single request of each feature costs at the median and in the tail, "
            "read like a latency percentile panel. A rising P99 with a flat P50 points at a few runaway requests.",
            q.cost_per_request_quantiles(s, "feature"),
            USD,
            width=16,
            height=9,
        ),
        timeseries(
            "Requests per second by feature",
            "Request volume of each feature, to tell a cost rise from more traffic apart from a cost rise per request.",
            [q.requests_by(s, "feature")],
            REQUESTS_PER_SECOND,
            stacked=True,
            width=8,
            height=9,
        ),
    )

    burn = row(
        "Burn rate",
        timeseries(
            f"Spend per hour against the {baseline} average",
            f"Is spend running above normal? The burn-rate alert pages when spend over both "
            f"{settings.burn_long_window} and {settings.burn_short_window} exceeds {factor:g}x the {baseline} "
            f"average (per {group}, for spenders above {settings.burn_min_spend_usd_per_hour:g} USD per hour).",
            q.spend_against_baseline(s),
            USD,
            styles=[
                SeriesStyle(f"{baseline} average", "text", dashed=True),
                SeriesStyle(f"alert level ({factor:g}x {baseline} average)", "red", dashed=True),
            ],
            links=[burn_runbook],
        ),
        timeseries(
            f"Burn rate by {group}",
            f"Spend rate of each {group} divided by its {baseline} average. "
            f"Above {factor:g} in both windows (and above the minimum spend) the burn-rate alert pages.",
            q.burn_rate_by_group(s),
            TIMES,
            steps=[Step(factor, "red")],
            links=[burn_runbook],
        ),
        timeseries(
            f"Spend per hour by {group}",
            f"Which {group} the money goes to right now, over the burn-rate alert's "
            f"{settings.burn_long_window} window. The line at "
            f"{settings.burn_min_spend_usd_per_hour:g} USD per hour is the floor below which the alert never pages.",
            [q.spend_per_hour_by_group(s)],
            USD,
            steps=[Step(settings.burn_min_spend_usd_per_hour, "orange")],
            stacked=True,
            width=24,
            height=7,
        ),
    )

    budgets = row(
        "Budgets",
        timeseries(
            "Budget spend, budget and projection",
            f"Spend of each budget's current period against the budget, and the spend projected to the "
            "period end from the spend rate over the last "
            + ", ".join(f"{window} for {PERIOD_ADJECTIVES.get(period, period)} budgets"
                        for period, window in sorted(settings.projection_windows.items()))
            + ". "
            "The projection crossing the budget line is what the projected-overrun alert reports.",
            q.budget_spend(s),
            USD,
            links=budget_runbooks,
            width=16,
            height=9,
        ),
        timeseries(
            "Projected budget use at period end",
            "Projected period spend as a share of each budget: above 100% the budget runs out before the period ends.",
            [q.budget_projected_use(s)],
            RATIO,
            steps=[Step(0.8, "orange"), Step(1.0, "red")],
            links=budget_runbooks,
            width=8,
            height=9,
        ),
    )

    health = row(
        "Telemetry health",
        stat(
            "Sources up",
            "Whether the last read of each log or vendor source succeeded (1) or failed (0). "
            "A cost panel is only as current as its sources.",
            [q.sources_up(s)],
            COUNT,
            base_color="red",
            steps=[Step(1, "green")],
            links=[common.runbook(settings, "LLMCostSourceStale")],
            height=6,
        ),
        timeseries(
            "Time since the last successful read",
            f"How stale each source is. Above {settings.source_max_age} the stale-source alert fires.",
            [q.source_age(s)],
            SECONDS,
            steps=[Step(settings.seconds(settings.source_max_age), "red")],
            links=[common.runbook(settings, "LLMCostSourceStale")],
            width=6,
            height=6,
        ),
        timeseries(
            f"Share of rejected records (last {settings.rejected_window})",
            f"Share of each source's records that the exporter could not use; their cost is not counted. "
            f"Above {settings.rejected_max_share:.0%} the rejected-events alert opens a ticket.",
            [q.rejected_share(s)],
            RATIO,
            steps=[Step(settings.rejected_max_share, "red")],
            links=[common.runbook(settings, "LLMCostEventsRejected")],
            width=6,
            height=6,
        ),
        timeseries(
            "Rejected records, unpriced tokens, label overflow",
            "Per-second rates of the problems that make cost numbers wrong: records rejected by reason, "
            "tokens of models without a price, and label values folded into __overflow__.",
            q.telemetry_problems(s),
            "short",
            width=6,
            height=6,
        ),
    )

    return common.spec(
        settings,
        UID,
        "LLM spend as a live signal: spend rate, cost per request percentiles, burn rate and budget projection.",
        template_variables,
        [spend_now, per_request, burn, budgets, health],
    )
