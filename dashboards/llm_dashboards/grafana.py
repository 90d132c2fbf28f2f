"""The one module that imports grafanalib.

Dashboards describe panels with the functions below and never touch grafanalib
objects themselves, so replacing grafanalib (its last release is 0.7.1) means
rewriting this file only. Panels are laid out in rows that fill the 24-column grid
from left to right, so no dashboard module computes a grid position.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import attr
from grafanalib import core
from grafanalib._gen import DashboardEncoder

GRID_COLUMNS = 24
ROW_HEIGHT = 1
DATASOURCE_VARIABLE = "datasource"
# Every panel, target, variable and annotation reads from the data source the
# viewer picks in the `datasource` variable.
DATASOURCE = {"type": "prometheus", "uid": f"${{{DATASOURCE_VARIABLE}}}"}
# Dashboard schema of Grafana 9. Later Grafana versions migrate older schemas when they load
# a dashboard, so a newer number is not needed.
SCHEMA_VERSION = 37
REF_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and how its series are named in the legend."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False


@dataclass(frozen=True)
class Step:
    """A threshold step: values from `value` upwards take `color` (Grafana colour name)."""

    value: float
    color: str


@dataclass(frozen=True)
class Link:
    """A link shown on a panel or in the dashboard's top bar."""

    title: str
    url: str
    new_tab: bool = True


@dataclass(frozen=True)
class SeriesStyle:
    """A fixed colour and/or a dashed line for the series whose legend name is `name`.

    With `pattern` true, `name` is a regular expression over legend names.
    """

    name: str
    color: str | None = None
    dashed: bool = False
    pattern: bool = False


@dataclass(frozen=True)
class Placed:
    """A panel with its size on the grid; `dashboard()` decides where it goes."""

    panel: Any
    width: int
    height: int


@dataclass(frozen=True)
class Row:
    """A titled row of panels."""

    title: str
    panels: tuple[Placed, ...]


@dataclass(frozen=True)
class Variable:
    """A dashboard template variable, in grafanalib-independent terms."""

    name: str
    label: str
    kind: str  # datasource, query or custom
    query: str = ""
    include_all: bool = False
    multi: bool = False
    default: str | None = None
    hide: bool = False


@dataclass(frozen=True)
class Annotation:
    """Events drawn on every time series panel from a PromQL query."""

    name: str
    expr: str
    title: str
    tag_labels: tuple[str, ...] = ()
    text: str = ""
    color: str = "red"


@dataclass(frozen=True)
class DashboardSpec:
    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    rows: tuple[Row, ...]
    variables: tuple[Variable, ...]
    links: tuple[Link, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    time_from: str = "now-24h"
    refresh: str = "1m"


def _targets(queries: Sequence[Query]) -> list[core.Target]:
    if not queries:
        raise ValueError("a panel needs at least one query")
    return [
        core.Target(
            expr=query.expr,
            legendFormat=query.legend,
            refId=REF_IDS[index],
            instant=query.instant,
            format="table" if query.table else "time_series",
            datasource=DATASOURCE,
            intervalFactor=1,
        )
        for index, query in enumerate(queries)
    ]


def _steps(base_color: str, steps: Iterable[Step]) -> list[dict[str, Any]]:
    return [{"color": base_color, "value": None}] + [{"color": s.color, "value": s.value} for s in steps]


def _links(links: Iterable[Link]) -> list[dict[str, Any]]:
    return [{"title": link.title, "url": link.url, "targetBlank": link.new_tab} for link in links]


def _overrides(styles: Iterable[SeriesStyle]) -> list[dict[str, Any]]:
    overrides = []
    for style in styles:
        properties: list[dict[str, Any]] = []
        if style.color is not None:
            properties.append({"id": "color", "value": {"mode": "fixed", "fixedColor": style.color}})
        if style.dashed:
            properties.append({"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}})
        matcher = {"id": "byRegexp" if style.pattern else "byName", "options": style.name}
        overrides.append({"matcher": matcher, "properties": properties})
    return overrides


def timeseries(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str,
    *,
    steps: Sequence[Step] = (),
    base_color: str = "green",
    styles: Sequence[SeriesStyle] = (),
    stacked: bool = False,
    bars: bool = False,
    links: Sequence[Link] = (),
    width: int = 12,
    height: int = 8,
) -> Placed:
    """Build a time series panel; threshold steps are drawn as dashed lines."""
    if bars:
        fill_opacity = 60
    elif stacked:
        fill_opacity = 20
    else:
        fill_opacity = 10
    panel = core.TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries),
        unit=unit,
        thresholds=_steps(base_color, steps),
        thresholdsStyleMode="dashed" if steps else "off",
        stacking={"mode": "normal", "group": "A"} if stacked else {"mode": "none", "group": "A"},
        drawStyle="bars" if bars else "line",
        fillOpacity=fill_opacity,
        lineWidth=1 if bars else 2,
        showPoints="never",
        legendDisplayMode="table",
        legendPlacement="bottom",
        legendCalcs=["mean", "max", "lastNotNull"],
        tooltipMode="multi",
        tooltipSort="desc",
        overrides=_overrides(styles),
        links=_links(links),
        maxDataPoints=500,
    )
    return Placed(panel, width, height)


def stat(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str,
    *,
    steps: Sequence[Step] = (),
    base_color: str = "green",
    decimals: int | None = None,
    links: Sequence[Link] = (),
    width: int = 6,
    height: int = 4,
) -> Placed:
    """Build a stat panel showing the last value, coloured by its threshold steps."""
    panel = core.Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries),
        format=unit,
        decimals=decimals,
        thresholds=_steps(base_color, steps),
        reduceCalc="lastNotNull",
        colorMode="value",
        graphMode="area",
        noValue="no data",
        links=_links(links),
        maxDataPoints=500,
    )
    return Placed(panel, width, height)


def table(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str,
    *,
    hidden_columns: Sequence[str] = ("Time",),
    rename: dict[str, str] | None = None,
    sort_by: str | None = None,
    column_units: dict[str, str] | None = None,
    colored_column: str | None = None,
    steps: Sequence[Step] = (),
    links: Sequence[Link] = (),
    width: int = 12,
    height: int = 8,
) -> Placed:
    """Build a table of instant queries; several queries are merged into one row per label set.

    `column_units` overrides the unit of single columns (by their displayed name), and
    `colored_column` is the column whose cells take the colour of the threshold steps.
    """
    transformations: list[dict[str, Any]] = []
    if len(queries) > 1:
        transformations.append({"id": "merge", "options": {}})
    transformations.append(
        {
            "id": "organize",
            "options": {
                "excludeByName": {name: True for name in hidden_columns},
                "renameByName": dict(rename or {}),
            },
        }
    )
    overrides = [
        {"matcher": {"id": "byName", "options": column}, "properties": [{"id": "unit", "value": column_unit}]}
        for column, column_unit in sorted((column_units or {}).items())
    ]
    if colored_column is not None:
        overrides.append(
            {
                "matcher": {"id": "byName", "options": colored_column},
                "properties": [{"id": "custom.displayMode", "value": "color-text"}],
            }
        )
    panel = core.Table(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets([_as_table(query) for query in queries]),
        unit=unit,
        thresholds=_steps("green", steps),
        transformations=transformations,
        overrides=overrides,
        sortBy=[core.TableSortByField(displayName=sort_by, desc=True)] if sort_by else [],
        links=_links(links),
    )
    return Placed(panel, width, height)


def _as_table(query: Query) -> Query:
    return Query(query.expr, query.legend, instant=True, table=True)


def row(title: str, *panels: Placed) -> Row:
    return Row(title, tuple(panels))


def _layout(rows: Sequence[Row]) -> list[Any]:
    """Place rows and their panels on the grid, left to right and top to bottom."""
    placed: list[Any] = []
    y = 0
    for grid_row in rows:
        placed.append(core.RowPanel(title=grid_row.title, gridPos=core.GridPos(h=ROW_HEIGHT, w=GRID_COLUMNS, x=0, y=y)))
        y += ROW_HEIGHT
        x = 0
        line_height = 0
        for item in grid_row.panels:
            if not 0 < item.width <= GRID_COLUMNS:
                raise ValueError(f"panel {item.panel.title!r} has width {item.width}: it must be 1 to {GRID_COLUMNS}")
            if x + item.width > GRID_COLUMNS:
                y += line_height
                x = 0
                line_height = 0
            placed.append(attr.evolve(item.panel, gridPos=core.GridPos(h=item.height, w=item.width, x=x, y=y)))
            x += item.width
            line_height = max(line_height, item.height)
        y += line_height
    return placed


def _template(variable: Variable) -> core.Template:
    hide = core.HIDE_VARIABLE if variable.hide else core.SHOW
    if variable.kind == "datasource":
        return core.Template(
            name=variable.name,
            label=variable.label,
            query="prometheus",
            type="datasource",
            hide=hide,
            default=variable.default,
        )
    if variable.kind == "custom":
        return core.Template(
            name=variable.name,
            label=variable.label,
            query=variable.query,
            type="custom",
            default=variable.default,
            hide=hide,
        )
    if variable.kind == "query":
        return core.Template(
            name=variable.name,
            label=variable.label,
            query={"query": variable.query, "refId": f"{variable.name}-values"},
            dataSource=DATASOURCE,
            type="query",
            includeAll=variable.include_all,
            multi=variable.multi,
            # `.*` also matches series where the label is empty or missing, which
            # a regex built from the listed values would drop.
            allValue=".*" if variable.include_all else None,
            default="All" if variable.include_all else variable.default,
            refresh=core.REFRESH_ON_TIME_RANGE_CHANGE,
            sort=core.SORT_ALPHA_IGNORE_CASE_ASC,
            hide=hide,
        )
    raise ValueError(f"unknown variable kind {variable.kind!r}: use datasource, query or custom")


def _annotation(annotation: Annotation) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "enable": True,
        "expr": annotation.expr,
        "hide": False,
        "iconColor": annotation.color,
        "name": annotation.name,
        "step": "1m",
        "tagKeys": ",".join(annotation.tag_labels),
        "textFormat": annotation.text,
        "titleFormat": annotation.title,
        "useValueForTime": False,
    }


def dashboard(spec: DashboardSpec) -> core.Dashboard:
    """Build the grafanalib dashboard of `spec` with laid-out panels and numbered ids."""
    built = core.Dashboard(
        uid=spec.uid,
        title=spec.title,
        description=spec.description,
        tags=list(spec.tags),
        panels=_layout(spec.rows),
        templating=core.Templating(list=[_template(variable) for variable in spec.variables]),
        annotations=core.Annotations(list=[_annotation(annotation) for annotation in spec.annotations]),
        links=[
            core.DashboardLink(
                title=link.title,
                uri=link.url,
                type="link",
                icon="dashboard" if link.url.startswith("/d/") else "doc",
                includeVars=link.url.startswith("/d/"),
                keepTime=link.url.startswith("/d/"),
                targetBlank=link.new_tab,
            )
            for link in spec.links
        ],
        time=core.Time(spec.time_from, "now"),
        refresh=spec.refresh,
        timezone="utc",
        graphTooltip=core.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        schemaVersion=SCHEMA_VERSION,
        editable=True,
    )
    return built.auto_panel_ids()


def to_data(spec: DashboardSpec) -> dict[str, Any]:
    """Return the dashboard JSON model of `spec` as plain dicts and lists."""
    return json.loads(json.dumps(dashboard(spec), cls=DashboardEncoder))
