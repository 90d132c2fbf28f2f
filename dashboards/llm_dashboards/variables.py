"""Template variables of the dashboards.

Label variables list the values seen on exporter metrics and offer "All", whose
value `.*` also matches series where the label is empty.
"""

from __future__ import annotations

from .grafana import DATASOURCE_VARIABLE, Variable
from .queries import CLUSTER_LABEL, Scope
from .settings import Settings

# Windows of the per-user spend gauges (llm_user_spend_usd, llm_active_users, llm_top_user_spend_usd).
USER_SPEND_WINDOWS = ("1h", "24h", "7d")

LABEL_TITLES = {
    "feature": "Feature",
    "intent": "Intent",
    "cohort": "Cohort",
    "cost_center": "Cost center",
    "product_line": "Product line",
    "budget": "Budget",
}

# The metric whose label values fill each variable's list.
VALUES_FROM = {
    "feature": "llm_calls_total",
    "intent": "llm_calls_total",
    "cohort": "llm_calls_total",
    "cost_center": "llm_calls_total",
    "product_line": "llm_calls_total",
    "budget": "llm_budget_usd",
}


def datasource() -> Variable:
    return Variable(
        name=DATASOURCE_VARIABLE,
        label="Data source",
        kind="datasource",
    )


def cluster(settings: Settings) -> Variable | None:
    """Return the cluster variable, or None where the shared selector pins one cluster."""
    if CLUSTER_LABEL in settings.selector:
        return None
    scope = Scope(settings, frozenset())
    return Variable(
        name=CLUSTER_LABEL,
        label="Cluster",
        kind="query",
        query=f"label_values({scope.sel('llm_exporter_build_info')}, {CLUSTER_LABEL})",
        include_all=True,
        multi=True,
    )


def label(settings: Settings, name: str, narrowed_by: frozenset[str] = frozenset()) -> Variable:
    """Return a multi-value variable over the values of label `name`.

    `narrowed_by` names the variables defined before this one whose selection
    narrows its list (the cluster, usually).
    """
    scope = Scope(settings, narrowed_by)
    return Variable(
        name=name,
        label=LABEL_TITLES[name],
        kind="query",
        query=f"label_values({scope.sel(VALUES_FROM[name], attribution=False)}, {name})",
        include_all=True,
        multi=True,
    )


def user_spend_window() -> Variable:
    return Variable(
        name="window",
        label="User spend window",
        kind="custom",
        query=",".join(USER_SPEND_WINDOWS),
        default="24h",
    )


def standard(settings: Settings, *labels: str, window: bool = False) -> tuple[Variable, ...]:
    """Return the data source and cluster variables, then one variable per label, in that order."""
    variables: list[Variable] = [datasource()]
    cluster_variable = cluster(settings)
    narrowed_by: frozenset[str] = frozenset()
    if cluster_variable is not None:
        variables.append(cluster_variable)
        narrowed_by = frozenset({CLUSTER_LABEL})
    variables.extend(label(settings, name, narrowed_by) for name in labels)
    if window:
        variables.append(user_spend_window())
    return tuple(variables)


def names(variables: tuple[Variable, ...]) -> frozenset[str]:
    return frozenset(variable.name for variable in variables)
