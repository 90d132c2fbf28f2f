"""Parts shared by every LLM cost dashboard: uids, cross links, the alert annotation, tags and units."""

from __future__ import annotations

from collections.abc import Sequence

from .grafana import Annotation, DashboardSpec, Link, Row, SeriesStyle, Variable
from .settings import Settings

TAGS = ("llm-cost",)

# uid -> title of every dashboard. The uids are part of the dashboards' URLs
# (/d/<uid>), so they never change once published.
DASHBOARDS = {
    "llm-cost-overview": "LLM / Cost overview",
    "llm-cost-unit-economics": "LLM / Unit economics",
    "llm-cost-cohorts": "LLM / Cohorts",
    "llm-cost-finance": "LLM / Finance",
}

# The alert rules name every alert LLM*, and Prometheus keeps a firing alert's labels
# on its ALERTS series.
FIRING_ALERTS = 'ALERTS{alertname=~"LLM.+", alertstate="firing"}'

# Units of Grafana's unit picker.
USD = "currencyUSD"
RATIO = "percentunit"
PER_SECOND = "short"
REQUESTS_PER_SECOND = "reqps"
SECONDS = "s"
TIMES = "suffix:x"
CALLS = "short"
USERS = "short"
COUNT = "short"


# Series of last week drawn dashed next to the current ones.
LAST_WEEK = SeriesStyle(".*one week earlier", dashed=True, pattern=True)


def runbook(settings: Settings, alert: str) -> Link:
    return Link(f"Runbook: {alert}", settings.runbook_url(alert))


def links(settings: Settings, current_uid: str) -> tuple[Link, ...]:
    """Links to the other dashboards (keeping time range and variables) and to the runbooks."""
    others = tuple(Link(title, f"/d/{uid}", new_tab=False) for uid, title in DASHBOARDS.items() if uid != current_uid)
    return others + (Link("Runbooks", settings.runbook_base_url),)


def alert_annotation() -> Annotation:
    return Annotation(
        name="LLM alerts firing",
        expr=FIRING_ALERTS,
        title="{{alertname}}",
        tag_labels=("severity", "feature", "budget", "cohort", "provider"),
        color="red",
    )


def spec(
    settings: Settings,
    uid: str,
    description: str,
    variables: Sequence[Variable],
    rows: Sequence[Row],
    time_from: str = "now-24h",
) -> DashboardSpec:
    if uid not in DASHBOARDS:
        raise KeyError(f"unknown dashboard uid {uid!r}: add it to DASHBOARDS first")
    return DashboardSpec(
        uid=uid,
        title=DASHBOARDS[uid],
        description=description,
        tags=TAGS,
        rows=tuple(rows),
        variables=tuple(variables),
        links=links(settings, uid),
        annotations=(alert_annotation(),),
        time_from=time_from,
    )
