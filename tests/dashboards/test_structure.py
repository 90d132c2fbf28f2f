"""Structural checks of every generated dashboard: ids, grid, targets, units, metrics, variables."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from .catalogue import labels_of
from .conftest import content_panels

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
EXPECTED_UIDS = {"llm-cost-overview", "llm-cost-unit-economics", "llm-cost-cohorts", "llm-cost-finance"}
GRAFANA_VARIABLES = {"__rate_interval", "__range", "__interval"}
SERIES = re.compile(r"\b(llm_[a-z0-9_]+)\b(\{[^}]*\})?")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
VARIABLE_REFERENCE = re.compile(r"\$\{?(\w+)")


def all_exprs(dashboard):
    for panel in content_panels(dashboard):
        for target in panel["targets"]:
            yield panel["title"], target["expr"]


def variable_names(dashboard):
    return {variable["name"] for variable in dashboard["templating"]["list"]}


def by_uid(generated):
    return {item.uid: item.data for item in generated}


def test_dashboard_uids_are_stable(generated):
    assert {item.uid for item in generated} == EXPECTED_UIDS


def test_filenames_are_uids(generated):
    for item in generated:
        assert item.filename == f"{item.data['uid']}.json"


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_panel_ids_unique(generated, uid):
    ids = [panel["id"] for panel in by_uid(generated)[uid]["panels"]]
    assert all(isinstance(panel_id, int) and panel_id > 0 for panel_id in ids)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_grid_positions_do_not_overlap(generated, uid):
    occupied: dict[tuple[int, int], str] = {}
    for panel in by_uid(generated)[uid]["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert grid["h"] > 0, panel["title"]
        assert grid["w"] > 0, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in occupied, f"{panel['title']!r} overlaps {occupied[(x, y)]!r} at x={x} y={y}"
                occupied[(x, y)] = panel["title"]


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_panels_have_targets_units_and_descriptions(generated, uid):
    for panel in content_panels(by_uid(generated)[uid]):
        assert panel["targets"], f"{panel['title']!r} has no target"
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']!r} has no unit"
        assert panel["fieldConfig"]["defaults"]["unit"] != "none", f"{panel['title']!r} has unit none"
        assert len(panel.get("description") or "") >= 30, f"{panel['title']!r} lacks a description"


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_every_target_uses_datasource_variable(generated, uid):
    dashboard = by_uid(generated)[uid]
    for panel in content_panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, f"{panel['title']!r} target {target['refId']}"
    for annotation in dashboard["annotations"]["list"]:
        assert annotation["datasource"] == DATASOURCE
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, variable["name"]


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_datasource_variable_first(generated, uid):
    first = by_uid(generated)[uid]["templating"]["list"][0]
    assert first["name"] == "datasource"
    assert first["type"] == "datasource"
    assert first["query"] == "prometheus"


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_metrics_exist_in_catalogue(generated, uid):
    for title, expr in all_exprs(by_uid(generated)[uid]):
        names = [match.group(1) for match in SERIES.finditer(expr)]
        assert names, f"{title!r}: no exporter metric in {expr}"
        for name in names:
            assert labels_of(name) is not None, f"{title!r}: {name} is not an exported metric"


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_selectors_use_labels_of_metric(generated, uid):
    dashboard = by_uid(generated)[uid]
    exprs = list(all_exprs(dashboard))
    exprs += [("variable " + v["name"], v["query"]["query"]) for v in dashboard["templating"]["list"]
              if v["type"] == "query"]
    for title, expr in exprs:
        for match in SERIES.finditer(expr):
            name, selector = match.group(1), match.group(2) or "{}"
            labels = labels_of(name)
            for label, _, _ in MATCHER.findall(selector):
                assert label in labels, f"{title!r}: {name} has no label {label!r}"


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_every_selector_has_the_job(generated, uid):
    for title, expr in all_exprs(by_uid(generated)[uid]):
        for match in SERIES.finditer(expr):
            assert 'job="llm-cost-exporter"' in (match.group(2) or ""), f"{title!r}: {match.group(0)}"


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_variables_referenced_are_defined(generated, uid):
    dashboard = by_uid(generated)[uid]
    defined = variable_names(dashboard)
    texts = [expr for _, expr in all_exprs(dashboard)]
    texts += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    for text in texts:
        for name in VARIABLE_REFERENCE.findall(text):
            assert name in defined | GRAFANA_VARIABLES, f"${name} is not defined, in {text}"


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_label_variables_filter_some_panel(generated, uid):
    dashboard = by_uid(generated)[uid]
    exprs = " ".join(expr for _, expr in all_exprs(dashboard))
    for name in variable_names(dashboard) - {"datasource"}:
        assert f"${name}" in exprs, f"variable {name} filters no panel"


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_label_variables_offer_all(generated, uid):
    for variable in by_uid(generated)[uid]["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["includeAll"] and variable["multi"], variable["name"]
            assert variable["allValue"] == ".*", variable["name"]


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_links_reach_other_dashboards_and_runbooks(generated, uid):
    links = by_uid(generated)[uid]["links"]
    urls = {link["url"] for link in links}
    assert {f"/d/{other}" for other in EXPECTED_UIDS - {uid}} <= urls
    assert f"/d/{uid}" not in urls
    assert any(url.endswith("/docs/runbooks") for url in urls)
    for link in links:
        if link["url"].startswith("/d/"):
            assert link["keepTime"] and link["includeVars"], link["title"]


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_panel_runbook_links_name_known_alerts(generated, uid):
    for panel in content_panels(by_uid(generated)[uid]):
        for link in panel["links"]:
            assert re.fullmatch(r".*/docs/runbooks/LLM[A-Za-z]+\.md", link["url"]), link["url"]


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_alert_annotation_shows_firing_llm_alerts(generated, uid):
    annotations = by_uid(generated)[uid]["annotations"]["list"]
    assert len(annotations) == 1
    assert annotations[0]["enable"] is True
    assert annotations[0]["expr"] == 'ALERTS{alertname=~"LLM.+", alertstate="firing"}'
    assert annotations[0]["titleFormat"] == "{{alertname}}"


RATIO_WORDS = re.compile(r"ratio|share|gap|against the cohort assumption|budget use|^change of|per prompt token")
TIME_WORDS = re.compile(r"^age of|^time since")
MONEY_WORDS = re.compile(r"\b(spend|cost|price|budgets?)\b|^by |top \d+ customers|top users")


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_money_panels_use_usd_and_ratios_percent(generated, uid):
    for panel in content_panels(by_uid(generated)[uid]):
        title = panel["title"].lower()
        unit = panel["fieldConfig"]["defaults"]["unit"]
        if TIME_WORDS.search(title):
            assert unit == "s", f"{panel['title']!r} has unit {unit}"
        elif RATIO_WORDS.search(title):
            assert unit == "percentunit", f"{panel['title']!r} has unit {unit}"
        elif MONEY_WORDS.search(title):
            assert unit == "currencyUSD", f"{panel['title']!r} has unit {unit}"


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_threshold_steps_ascend(generated, uid):
    for panel in content_panels(by_uid(generated)[uid]):
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[0]["value"] is None, panel["title"]
        values = [step["value"] for step in steps[1:]]
        assert values == sorted(values), f"{panel['title']!r}: {values}"


def test_row_headers_not_collapsed(generated):
    for item in generated:
        for panel in item.data["panels"]:
            if panel["type"] == "row":
                assert panel["collapsed"] is False
                assert panel["panels"] == []


def test_queries_parse_with_promtool(generated, tmp_path):
    """Every panel, variable and annotation query is valid PromQL for Prometheus' own parser."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not found: install the Debian package prometheus")
    rules = []
    for item in generated:
        variables = variable_names(item.data)
        exprs = [expr for _, expr in all_exprs(item.data)]
        exprs += [annotation["expr"] for annotation in item.data["annotations"]["list"]]
        for index, expr in enumerate(exprs):
            rules.append({"record": f"dashboard:{item.uid.replace('-', '_')}:query{index}",
                          "expr": with_example_values(expr, variables)})
    rule_file = tmp_path / "queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}))

    result = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr


def with_example_values(expr: str, variables: set[str]) -> str:
    """Replace Grafana's and the dashboard's variables with values of the right kind."""
    for name, value in {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "1m", "$window": "24h"}.items():
        expr = expr.replace(name, value)
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace(f"${name}", ".*")
    return expr
