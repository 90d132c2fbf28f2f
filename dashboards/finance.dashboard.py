"""Finance: spend by cost center, product line and customer, budgets, and the vendor invoice check."""

from llm_dashboards import common, queries as q, variables
from llm_dashboards.common import RATIO, SECONDS, USD
from llm_dashboards.grafana import DashboardSpec, Step, row, table, timeseries
from llm_dashboards.settings import Settings

UID = "llm-cost-finance"


def build(settings: Settings) -> DashboardSpec:
    template_variables = variables.standard(settings, "cost_center", "product_line", "feature")
    s = q.Scope(settings, variables.names(template_variables))
    gap = settings.reconciliation_max_gap
    reconciliation_runbook = common.runbook(settings, "LLMCostReconciliationGap")

    owners = row(
        "Spend in the time range",
        table(
            "By cost center",
            "Spend of each cost center over the dashboard's time range, largest first.",
            [q.spend_in_range_by(s, "cost_center")],
            USD,
            rename={"Value": "spend", "cost_center": "cost center"},
            sort_by="spend",
            width=8,
        ),
        table(
            "By product line",
            "Spend of each product line over the dashboard's time range, largest first.",
            [q.spend_in_range_by(s, "product_line")],
            USD,
            rename={"Value": "spend", "product_line": "product line"},
            sort_by="spend",
            width=8,
        ),
        table(
            "Top 20 customers",
            "The 20 customers with the highest spend over the time range. Needs customer_id among the "
            "exporter's attribution labels (labels.attribution); without it all spend shows in one line.",
            [q.spend_in_range_by(s, "customer_id", limit=20)],
            USD,
            rename={"Value": "spend", "customer_id": "customer"},
            sort_by="spend",
            width=8,
        ),
    )

    over_time = row(
        "Spend over time",
        timeseries(
            "Spend per hour by cost center",
            "How each cost center's spend rate changes over time, stacked to the total.",
            [q.spend_per_hour_by(s, "cost_center")],
            USD,
            stacked=True,
        ),
        timeseries(
            "Spend per hour by product line",
            "How each product line's spend rate changes over time, stacked to the total.",
            [q.spend_per_hour_by(s, "product_line")],
            USD,
            stacked=True,
        ),
        table(
            "By provider and model",
            "Spend of each model over the time range: the line items the vendor invoices show.",
            [q.spend_in_range_by(s, "provider, model")],
            USD,
            rename={"Value": "spend"},
            sort_by="spend",
        ),
        table(
            "Budgets",
            "Each budget's spend in its current period, the budget, and the share used.",
            q.budget_table(s),
            USD,
            rename={"Value #A": "spend", "Value #B": "budget", "Value #C": "use"},
            hidden_columns=("Time",),
            column_units={"use": RATIO},
            colored_column="use",
            steps=[Step(0.8, "orange"), Step(1.0, "red")],
            links=[
                common.runbook(settings, "LLMBudgetProjectedOverrun"),
                common.runbook(settings, "LLMBudgetExhausted"),
            ],
        ),
    )

    reconciliation = row(
        "Gateway against vendor invoice",
        timeseries(
            "Gateway cost and vendor-reported cost by provider",
            f"Cost computed from gateway logs against the cost the vendor's cost API reports, over "
            f"{settings.reconciliation_window}. Vendors report complete days late, so the gateway side ends "
            f"{settings.vendor_delay} ago. Needs a vendor cost source in central mode.",
            q.gateway_and_vendor_cost(s),
            USD,
            links=[reconciliation_runbook],
        ),
        timeseries(
            "Gateway against vendor gap",
            f"(gateway - vendor) / vendor per provider. Beyond ±{gap:.0%} the reconciliation alert opens a "
            "ticket: look for unpriced models, wrong price overrides or traffic that bypasses the gateway.",
            [q.reconciliation_gap(s)],
            RATIO,
            base_color="red",
            steps=[Step(-gap, "green"), Step(gap, "red")],
            links=[reconciliation_runbook],
            width=6,
        ),
        timeseries(
            "Age of vendor cost data",
            f"Time since the end of the newest complete bucket read from each vendor API. Older than "
            f"{settings.vendor_max_data_age}, the comparison is not made.",
            [q.vendor_data_age(s)],
            SECONDS,
            steps=[Step(settings.seconds(settings.vendor_max_data_age), "red")],
            links=[common.runbook(settings, "LLMCostSourceStale")],
            width=6,
        ),
    )

    return common.spec(
        settings,
        UID,
        "LLM spend for finance: by cost center, product line and customer, budgets, and gateway cost "
        "reconciled against the vendors' invoices.",
        template_variables,
        [owners, over_time, reconciliation],
        time_from="now-7d",
    )
