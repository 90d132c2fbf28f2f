"""Cohorts: how spend is spread over users, per cohort."""

from llm_dashboards import common, queries as q, variables
from llm_dashboards.common import RATIO, USD, USERS
from llm_dashboards.grafana import DashboardSpec, Step, row, table, timeseries
from llm_dashboards.settings import Settings

UID = "llm-cost-cohorts"


def build(settings: Settings) -> DashboardSpec:
    template_variables = variables.standard(settings, "cohort", window=True)
    s = q.Scope(settings, variables.names(template_variables))
    heavy_runbook = common.runbook(settings, "LLMHeavyUserCohortSpend")
    quantile = settings.heavy_user_quantile
    assumptions = ", ".join(f"{cohort} {usd:g} USD" for cohort, usd in sorted(settings.heavy_user_assumptions_usd.items()))

    spread = row(
        "Per-user spend",
        timeseries(
            "Per-user spend quantiles by cohort",
            "What the median user, the 90th, 95th and 99th percentile user and the heaviest user of each "
            "cohort spent over the selected window. A gap between q0.99 and q1 is a single outlier.",
            [q.user_spend_quantiles(s)],
            USD,
            width=24,
        ),
    )

    heavy = row(
        "Heavy users",
        timeseries(
            f"q{quantile} per-user spend over {settings.heavy_user_window} by cohort",
            f"What the q{quantile} user of each cohort spent over {settings.heavy_user_window}, the "
            "quantile and window the heavy-user alert watches.",
            [q.heavy_user_spend(s)],
            USD,
            links=[heavy_runbook],
        ),
        timeseries(
            f"q{quantile} per-user spend against the cohort assumption",
            f"The q{quantile} user's spend over {settings.heavy_user_window} divided by the spend the pricing "
            f"of its cohort assumes ({assumptions}; other cohorts "
            f"{settings.heavy_user_default_assumption_usd:g} USD). Above 100% the heavy-user alert opens a ticket.",
            [q.heavy_user_spend_over_assumption(s)],
            RATIO,
            steps=[Step(1.0, "red")],
            links=[heavy_runbook],
        ),
    )

    users = row(
        "Users",
        timeseries(
            "Active users by cohort",
            "Users with any spend in the selected window.",
            [q.active_users(s)],
            USERS,
            width=8,
        ),
        timeseries(
            "Mean spend per active user by cohort",
            "Cohort spend over the selected window divided by its active users.",
            [q.spend_per_active_user(s)],
            USD,
            width=8,
        ),
        timeseries(
            "Cost per request P50 / P95 / P99 by cohort",
            "What one request of each cohort costs at the median and in the tail.",
            q.cost_per_request_quantiles(s, "cohort"),
            USD,
            width=8,
        ),
    )

    top = row(
        "Top users",
        table(
            "Top users by spend",
            "The heaviest users of each cohort over the selected window. User ids are pseudonymized by the "
            "exporter; the same user has the same id in every window.",
            [q.top_users(s)],
            USD,
            hidden_columns=("Time", "__name__", "job", "instance", "window"),
            rename={"Value": "spend", "user": "user (pseudonymized)"},
            sort_by="spend",
            links=[heavy_runbook],
            width=24,
            height=10,
        ),
    )

    return common.spec(
        settings,
        UID,
        "How spend is spread over users: per-user spend quantiles, active users and the heaviest users by cohort.",
        template_variables,
        [spread, heavy, users, top],
    )
