"""Rule evaluation over a backfilled TSDB, checked against firing times worked out by hand."""

from __future__ import annotations

import shutil

import pytest

from llm_cost_exporter.backtest.evaluate import apply_for, evaluate_rules
from llm_cost_exporter.backtest.prometheus import PrometheusServer, backfill
from llm_cost_exporter.backtest.rules import parse_prometheus_duration, parse_rules

T0 = 1767225600  # 2026-01-01T00:00:00Z, a multiple of every evaluation interval used here
MINUTE = 60
HOUR = 3600

needs_prometheus = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="needs prometheus and promtool (Debian package prometheus)",
)


def alert_rule(expr="x", for_="0s", keep_firing_for=None, interval="1m"):
    rule = {"alert": "Demo", "expr": expr, "for": for_, "labels": {"severity": "page"}}
    if keep_firing_for:
        rule["keep_firing_for"] = keep_firing_for
    return parse_rules({"groups": [{"name": "g", "interval": interval, "rules": [rule]}]}).alerting[0]


def present_at(*minutes: int) -> dict[tuple, list[tuple[float, float]]]:
    return {(("job", "x"),): [(T0 + m * MINUTE, 1.0) for m in minutes]}


def test_for_fires_after_duration():
    firings = apply_for(alert_rule(for_="5m"), present_at(*range(10, 20)), T0, T0 + HOUR)
    assert len(firings) == 1
    assert firings[0].start == T0 + 15 * MINUTE
    assert firings[0].end == T0 + 20 * MINUTE
    assert firings[0].labels == {"job": "x", "severity": "page", "alertname": "Demo"}


def test_for_drops_short_pending():
    firings = apply_for(alert_rule(for_="5m"), present_at(10, 11, 12, 13, 14, 20, 21), T0, T0 + HOUR)
    assert firings == []


def test_zero_for_fires_at_first_evaluation():
    firings = apply_for(alert_rule(), present_at(7), T0, T0 + HOUR)
    assert [(f.start, f.end) for f in firings] == [(T0 + 7 * MINUTE, T0 + 8 * MINUTE)]


def test_keep_firing_for_bridges_gap():
    rule = alert_rule(keep_firing_for="3m")
    # Absent at minutes 12 and 13: kept firing. Absent from 20 on: resolved 3 minutes later.
    firings = apply_for(rule, present_at(10, 11, 14, 15, 16, 17, 18, 19), T0, T0 + HOUR)
    assert len(firings) == 1
    assert firings[0].start == T0 + 10 * MINUTE
    assert firings[0].end == T0 + 23 * MINUTE


def test_still_firing_at_end():
    firings = apply_for(alert_rule(), present_at(58, 59, 60), T0, T0 + HOUR)
    assert firings[0].end is None


def test_interval_sets_evaluation_times():
    # A 2m group evaluates at even minutes only, so a sample at minute 3 is never seen.
    firings = apply_for(alert_rule(interval="2m"), present_at(3, 4), T0, T0 + HOUR)
    assert [f.start for f in firings] == [T0 + 4 * MINUTE]


def test_rule_levels_follow_reads():
    rules = parse_rules({"groups": [
        {"name": "late", "interval": "2m", "rules": [{"record": "c", "expr": "avg_over_time(b[1h])"}]},
        {"name": "early", "rules": [
            {"record": "b", "expr": "sum(rate(a_total[5m]))"},
            {"record": "d", "expr": "c > b"},
            {"alert": "E", "expr": 'd > 1 and on () label_replace(vector(1), "x", "c", "", "")'},
        ]},
    ]})
    assert [[rule.record for rule in level] for level in rules.levels()] == [["b"], ["c"], ["d"]]
    assert rules.raw_names() >= {"a_total"}
    assert "c" not in rules.raw_names()


def test_rule_cycle_rejected():
    rules = parse_rules({"groups": [{"name": "g", "rules": [
        {"record": "a", "expr": "b + 1"},
        {"record": "b", "expr": "a + 1"},
    ]}]})
    with pytest.raises(ValueError, match="cycle"):
        rules.levels()


def test_prometheus_durations():
    assert parse_prometheus_duration("1h30m") == 5400
    assert parse_prometheus_duration("1w") == 604800
    assert parse_prometheus_duration("0s") == 0
    with pytest.raises(ValueError, match="invalid duration"):
        parse_prometheus_duration("15 minutes")


def demo_counter(t: float) -> float:
    """1 request per second, 5 per second from 2h to 3h, then 1 per second again."""
    if t <= 2 * HOUR:
        return t
    if t <= 3 * HOUR:
        return 2 * HOUR + 5 * (t - 2 * HOUR)
    return 2 * HOUR + 5 * HOUR + (t - 3 * HOUR)


DEMO_RULES = {"groups": [
    {"name": "demo", "interval": "1m", "rules": [
        {"record": "job:demo_requests:rate5m", "expr": "sum by (job) (rate(demo_requests_total[5m]))"},
        {"alert": "DemoRaw", "expr": "sum by (job) (rate(demo_requests_total[5m])) > 3",
         "labels": {"severity": "ticket"}},
        {"alert": "DemoRecorded", "expr": "job:demo_requests:rate5m > 3", "for": "10m", "keep_firing_for": "5m",
         "labels": {"severity": "page"}},
        {"alert": "DemoSecondLevel", "expr": "job:demo_requests:double > 6", "for": "0m",
         "labels": {"severity": "ticket"}},
    ]},
    {"name": "demo-second-level", "interval": "1m", "rules": [
        {"record": "job:demo_requests:double", "expr": "2 * job:demo_requests:rate5m"},
    ]},
]}


@pytest.mark.slow
@needs_prometheus
def test_synthetic_firing_times(tmp_path):
    """Firing times worked out by hand from the counter above.

    Samples every 60 s; Prometheus 2.42 reads the 5m range [t-5m, t] inclusively, so with
    samples on both edges rate5m is exactly the increase over 300 s. After the rise at
    2h, rate5m is 1.8, 2.6, 3.4 at 2h01m, 2h02m, 2h03m: above 3 from 2h03m, so DemoRaw and
    DemoSecondLevel fire at 2h03m and DemoRecorded (for 10m) at 2h13m. After the fall at
    3h, rate5m is 4.2, 3.4, 2.6 at 3h01m, 3h02m, 3h03m: DemoRaw resolves at 3h03m and
    DemoRecorded, kept firing for 5m from 3h03m, at 3h08m.
    """
    samples = tmp_path / "demo.om"
    lines = [f'demo_requests_total{{job="demo"}} {demo_counter(t)} {T0 + t}' for t in range(0, 4 * HOUR + 1, 60)]
    samples.write_text("\n".join(lines) + "\n# EOF\n")
    data_dir = tmp_path / "data"
    backfill(samples, data_dir)

    evaluation = evaluate_rules(parse_rules(DEMO_RULES), tmp_path, data_dir, T0, T0 + 4 * HOUR)

    firings = {f.alert: f for f in evaluation.firings}
    assert sorted(firings) == ["DemoRaw", "DemoRecorded", "DemoSecondLevel"]
    assert len(evaluation.firings) == 3
    assert (firings["DemoRaw"].start - T0, firings["DemoRaw"].end - T0) == (2 * HOUR + 3 * MINUTE,
                                                                           3 * HOUR + 3 * MINUTE)
    assert (firings["DemoRecorded"].start - T0, firings["DemoRecorded"].end - T0) == (2 * HOUR + 13 * MINUTE,
                                                                                     3 * HOUR + 8 * MINUTE)
    assert firings["DemoSecondLevel"].start - T0 == 2 * HOUR + 3 * MINUTE
    assert firings["DemoRecorded"].labels == {"job": "demo", "severity": "page", "alertname": "DemoRecorded"}


@pytest.mark.slow
@needs_prometheus
def test_query_survives_prometheus_restart(tmp_path):
    samples = tmp_path / "demo.om"
    samples.write_text(f'demo_requests_total{{job="demo"}} 1 {T0}\n'
                       f'demo_requests_total{{job="demo"}} 61 {T0 + 60}\n# EOF\n')
    backfill(samples, tmp_path / "data")
    with PrometheusServer(tmp_path, tmp_path / "data") as server:
        server.process.terminate()  # as a `pkill -x prometheus` elsewhere on the machine would
        server.process.wait()
        result = server.query_range("demo_requests_total", T0, T0 + 60, 60)
        assert server.restarts == 1
    assert list(result.values()) == [[(T0, 1.0), (T0 + 60, 61.0)]]
