"""Every panel query against a real Prometheus that scrapes the real exporter on a simulated workload.

The exporter tails a log that `llm-cost-exporter simulate` appends to in wall-clock
time. Panels that compare with last week (`offset 1w`) or with vendor invoices need
history that a test cannot wait for. So before Prometheus starts, `promtool tsdb
create-blocks-from openmetrics` backfills a day around one week ago and a few minutes
around one day ago. The backfill contains the exporter's own series from a replay of a
simulated log, grown linearly over that time, plus a vendor cost counter and its
data-end gauge as a central-mode exporter exposes them.
Every query runs with Grafana's template variables replaced by their "All" or
default values, and must return at least one finite value.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import ExporterProcess, PrometheusProcess, require_binary, wait_until

from .conftest import VALUES_PATH, content_panels

pytestmark = pytest.mark.slow

JOB = "llm-cost-exporter"
SCRAPE_INTERVAL = "1s"
# Stand-ins for Grafana's built-in variables and the defaults of ours.
SUBSTITUTIONS = {
    "$__rate_interval": "30s",
    "$__range": "1h",
    "$__interval": "15s",
    "$window": "24h",
}
# Value of "All" in every label variable.
ALL = ".*"
HISTORY_STEP = 1800
DAY = 86400


def substitute(expr: str, variables: set[str]) -> str:
    for name, value in SUBSTITUTIONS.items():
        expr = expr.replace(name, value)
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace(f"${name}", ALL)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, f"{argv[:3]} failed:\n{result.stderr[-2000:]}"
    return result


def exporter_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "llm_cost_exporter", *args]


def history_times(now: float) -> list[float]:
    """Sample times of the backfilled history.

    Samples every 30 minutes from 8 days and 15 minutes ago to 7 days minus 15 minutes
    ago cover the week-ago windows, which are at most 1d long. Samples every minute for
    20 minutes around one day ago serve the budget projection, which reads the spend
    one day earlier. promtool 2.42 writes one block per 2 hours of data, in about half
    a second each on the test machine, so the history is kept to these two stretches.
    """
    first = now - 8 * DAY - 900
    week_ago = [first + step * HISTORY_STEP for step in range(int((DAY + 1800) // HISTORY_STEP) + 1)]
    day_ago = [now - DAY + offset for offset in range(-600, 601, 60)]
    return week_ago + day_ago


def write_history(path: Path, exposition: str, now: float) -> int:
    """Write OpenMetrics samples of the replayed exposition over the past, and return their number.

    Counters, and the sums and counts of histograms and summaries, rise linearly from
    near 0 at the first sample time to their replayed value at the last. Gauges keep
    their value. Histogram buckets are left out because no panel reads them in the past.
    """
    times = history_times(now)
    first, last = times[0], times[-1]
    lines = []
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_created")):
                continue
            labels = {**sample.labels, "job": JOB, "instance": "history"}
            selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            grows = family.type == "counter" or (
                family.type in ("histogram", "summary") and sample.name.endswith(("_sum", "_count"))
            )
            for timestamp in times:
                share = 0.01 + 0.99 * (timestamp - first) / (last - first)
                value = sample.value * share if grows else sample.value
                lines.append(f"{sample.name}{{{selector}}} {value} {timestamp:.3f}")
    # Vendor cost as a central-mode exporter reports it: a counter rising by 360 USD a
    # day, and the end of the newest complete daily bucket, up to a minute ago.
    cost_labels = f'instance="central",job="{JOB}",line_item="gpt-4o, input",project="proj_live",provider="openai"'
    end_labels = f'instance="central",job="{JOB}",provider="openai",source="openai-costs"'
    for timestamp in [*times, now - 60]:
        spent = (timestamp - first) / DAY * 360
        lines.append(f"llm_vendor_cost_usd_total{{{cost_labels}}} {spent:.4f} {timestamp:.3f}")
        lines.append(f"llm_vendor_data_end_timestamp_seconds{{{end_labels}}} {timestamp - timestamp % DAY} {timestamp:.3f}")
    path.write_text("\n".join(sorted_by_series(lines)) + "\n# EOF\n")
    return len(lines)


def sorted_by_series(lines: list[str]) -> list[str]:
    """Group the samples of each series together, in time order, as OpenMetrics requires."""
    def key(line: str) -> tuple[str, float]:
        series, _, rest = line.rpartition("} ")
        return series, float(rest.split()[1])

    return sorted(lines, key=key)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, generated):
    workdir = tmp_path_factory.mktemp("live")
    now = time.time()

    history_log = workdir / "history.jsonl"
    history_start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 8 * DAY))
    run(*exporter_cli("simulate", "--days", "0.05", "--start", history_start, "--seed", "7",
                      "--output", str(history_log)))
    config = {
        "sources": [{"name": "gateway", "type": "file", "path": str(workdir / "gateway.jsonl"),
                     "format": "native", "start_at": "beginning"}],
        "labels": {"attribution": ["feature", "intent", "cohort", "cost_center", "product_line", "customer_id"]},
        "requests": {"idle_timeout": "5s"},
        "budgets": [
            {"name": "search-monthly", "match": {"cost_center": "search"}, "period": "month", "amount_usd": 20000},
            {"name": "support-weekly", "match": {"cost_center": "support"}, "period": "week", "amount_usd": 2000},
            {"name": "support-daily", "match": {"cost_center": "support"}, "period": "day", "amount_usd": 300},
        ],
    }
    replay_config = workdir / "replay.yaml"
    replay_config.write_text(yaml.safe_dump({
        **config,
        "server": {"listen": "127.0.0.1:9841"},  # not opened by replay
        "state": {"path": str(workdir / "replay-state.db")},
    }))
    exposition = run(*exporter_cli("replay", "--config", str(replay_config), str(history_log))).stdout
    openmetrics = workdir / "history.om"
    write_history(openmetrics, exposition, now)
    run(require_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(openmetrics),
        str(workdir / "prometheus" / "data"))

    simulator_log = open(workdir / "simulate.log", "wb")
    simulator = subprocess.Popen(
        exporter_cli("simulate", "--rate", "60", "--duration", "10m", "--seed", "11",
                     "--output", str(workdir / "gateway.jsonl")),
        stdout=simulator_log, stderr=subprocess.STDOUT,
    )
    exporter = prometheus = None
    try:
        wait_until(lambda: (workdir / "gateway.jsonl").exists(), 20, what="the simulated gateway log")
        exporter = ExporterProcess(workdir / "exporter", config,
                                   env={"LLM_COST_USER_KEY": "live-test-key"})
        prometheus = PrometheusProcess(
            workdir / "prometheus",
            [PrometheusProcess.scrape_config(JOB, [exporter.address], scrape_interval=SCRAPE_INTERVAL)],
            scrape_interval=SCRAPE_INTERVAL,
        )
        wait_until(prometheus.targets_up, 30, what="the exporter target up")
        # Wait until requests completed and retries happened, then for enough samples
        # in the 30s rate window.
        wait_until(lambda: prometheus.query(f'llm_retry_cost_usd_total{{job="{JOB}"}}'), 60,
                   interval=1, what="retries in the live data")
        wait_until(lambda: prometheus.query(f'llm_top_user_spend_usd{{job="{JOB}"}}'), 60,
                   interval=1, what="per-user spend in the live data")
        time.sleep(8)
        yield prometheus
    finally:
        simulator.terminate()
        simulator.wait(10)
        simulator_log.close()
        if prometheus is not None:
            prometheus.stop()
        if exporter is not None:
            exporter.stop()


def panel_targets(generated):
    for item in generated:
        variables = {v["name"] for v in item.data["templating"]["list"]}
        for panel in content_panels(item.data):
            for target in panel["targets"]:
                yield item.uid, panel["title"], target["refId"], substitute(target["expr"], variables)


def finite_values(result: list[dict]) -> list[float]:
    values = [float(series["value"][1]) for series in result]
    return [value for value in values if math.isfinite(value)]


def projection_possible(stack, library) -> bool:
    """Tell whether some budget's period is older than its projection window.

    The projection is undefined in the first window of a period, so on the first day
    of a month that is also a Monday no budget of this test projects.
    """
    settings = library.settings.load(VALUES_PATH)
    for period, window in settings.projection_windows.items():
        older = (f'llm_budget_period_start_timestamp_seconds{{job="{JOB}", instance!="history", '
                 f'period="{period}"}} < time() - {settings.seconds(window):g}')
        if stack.query(older):
            return True
    return False


def test_every_panel_query_returns_data(stack, generated, library):
    empty, failed = [], []
    checked = 0
    may_be_empty = () if projection_possible(stack, library) else ("llm_budget_period_start_timestamp_seconds",)
    for uid, title, ref_id, expr in panel_targets(generated):
        checked += 1
        try:
            result = stack.query(expr)
        except RuntimeError as err:
            failed.append(f"{uid} / {title} / {ref_id}: {err}")
            continue
        if not finite_values(result) and not any(metric in expr for metric in may_be_empty):
            empty.append(f"{uid} / {title} / {ref_id}: {expr}")
    assert checked > 60
    assert not failed, "queries rejected by Prometheus:\n" + "\n".join(failed)
    assert not empty, "queries without data:\n" + "\n".join(empty)


def test_variable_queries_list_values(stack, generated):
    label_values = re.compile(r"label_values\((.+), (\w+)\)")
    for item in generated:
        names = {v["name"] for v in item.data["templating"]["list"]}
        for variable in item.data["templating"]["list"]:
            if variable["type"] != "query":
                continue
            selector, label = label_values.fullmatch(variable["query"]["query"]).groups()
            selector = substitute(selector, names)
            response = requests.get(
                f"{stack.url}/api/v1/label/{label}/values?match[]={quote(selector)}", timeout=10
            )
            body = response.json()
            assert body["status"] == "success", f"{item.uid} ${variable['name']}: {body}"
            if label == "cluster":
                continue  # this Prometheus adds no cluster label
            assert body["data"], f"{item.uid} ${variable['name']} lists no values for {selector}"


def test_alert_annotation_query_accepted(stack, generated):
    for item in generated:
        for annotation in item.data["annotations"]["list"]:
            stack.query(annotation["expr"])


def test_custom_variable_values_are_valid_windows(stack):
    for window in ("1h", "24h", "7d"):
        assert stack.query(f'llm_user_spend_usd{{job="{JOB}", window="{window}"}}'), window


def test_history_reaches_last_week_and_yesterday(stack):
    assert stack.query(f'count_over_time(llm_tokens_total{{job="{JOB}", instance="history"}}[1d] offset 1w)')
    assert stack.query(f'llm_budget_spend_usd{{job="{JOB}", instance="history"}} offset 1d')


# Metrics that have series for any combination of attribution labels seen on llm_calls_total.
ALWAYS_FILLED = re.compile(
    r"llm_(cost_usd_total|tokens_total|calls_total|request_cost_usd_(bucket|sum|count)|budget_\w+)$"
)


def test_one_selected_value_per_variable(stack, generated):
    """Queries stay valid with one value per variable, and panels of the main metrics keep data."""
    (call,) = stack.query(f'topk(1, llm_calls_total{{job="{JOB}", feature!="", intent!="", cohort!=""}})')
    (budget,) = stack.query(f'topk(1, llm_budget_usd{{job="{JOB}"}})')
    selected = {name: call["metric"][name] for name in ("feature", "intent", "cohort", "cost_center", "product_line")}
    selected["budget"] = budget["metric"]["budget"]
    selected["cluster"] = ".*"
    for item in generated:
        variables = {v["name"] for v in item.data["templating"]["list"]}
        for panel in content_panels(item.data):
            for target in panel["targets"]:
                expr = target["expr"]
                # The simulated label values contain no regex metacharacters, so they need no escaping.
                for name in sorted(variables & selected.keys(), key=len, reverse=True):
                    expr = expr.replace(f"${name}", selected[name])
                expr = substitute(expr, variables)
                result = stack.query(expr)
                metrics = set(re.findall(r"\b(llm_\w+)\{", expr))
                if "offset" not in expr and metrics and all(ALWAYS_FILLED.match(m) for m in metrics):
                    assert finite_values(result), f"{item.uid} / {panel['title']} with {selected}: {expr}"
