"""Generate the long promtool suites whose input series are too long to write by hand.

- budget_projection.test.yml: a monthly budget whose daily spend grows 20% a week,
  with a daily cycle, noise, an exporter restart and the start of the next month.
- normal_weeks.test.yml: fifteen days of ordinary traffic for every data alert, with
  daily and weekly seasonality, growth and noise, during which no alert may fire.

The output is deterministic (fixed random seed) and committed; a pytest test checks
that the committed files match this script. Run from anywhere:

    python alert_rules/tests/generate_suites.py
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RUNBOOKS = "https://github.com/llm-cost-exporter/llm-cost-exporter/blob/main/docs/runbooks"
JOB = 'job="llm-cost-exporter",instance="gw-1:9841"'
DAY = 86400
HOUR = 3600

# Baseline groups first, so the alerts that read them see this evaluation's values.
GROUP_EVAL_ORDER = [
    "llm-cost-burn-rate-baseline",
    "llm-cost-cost-per-request-baseline",
    "llm-cost-prompt-prefixes-baseline",
    "llm-cost-budget",
    "llm-cost-burn-rate",
    "llm-cost-cache",
    "llm-cost-call-multiplicity",
    "llm-cost-cost-per-request",
    "llm-cost-heavy-users",
    "llm-cost-prompt-prefixes",
    "llm-cost-reconciliation",
    "llm-cost-retries",
    "llm-cost-telemetry",
]


def daily_cycle(hour_of_day: float) -> float:
    """Return the traffic of an hour relative to the daily mean: low at 03:00 UTC, high at 15:00."""
    return 1 + 0.6 * math.sin(2 * math.pi * (hour_of_day - 9) / 24)


def weekly_cycle(day: int) -> float:
    """Return the traffic of a day relative to the weekly mean; day 0 (1970-01-01) is a Thursday."""
    weekday = (day + 3) % 7  # 0 = Monday
    return 0.7 if weekday >= 5 else 1.12


def fmt(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def counter_segments(rates_per_hour: list[float], step_seconds: int) -> str:
    """Write a counter that grows at a constant rate within each hour, as promtool segments.

    `rates_per_hour[i]` is the increase per second during hour i. One segment `a+bxn`
    per hour keeps the file small while the rate changes hour by hour.
    """
    steps = HOUR // step_seconds
    parts = []
    value = 0.0
    for i, rate in enumerate(rates_per_hour):
        increment = rate * step_seconds
        start = value if i == 0 else value + increment
        parts.append(f"{fmt(start)}+{fmt(increment)}x{steps - 1}")
        value = start + increment * (steps - 1)
    return " ".join(parts)


def gauge_segments(values_per_hour: list[float], step_seconds: int) -> str:
    """Write a gauge that keeps one value for each hour."""
    steps = HOUR // step_seconds
    return " ".join(f"{fmt(v)}x{steps - 1}" for v in values_per_hour)


def series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{JOB}{',' + labels if labels else ''}}}", "values": values}


def write(path: Path, header: str, document: dict) -> None:
    text = yaml.safe_dump(document, sort_keys=False, width=10_000_000, default_flow_style=False)
    path.write_text(header + text, encoding="utf-8")


# ---------------------------------------------------------------------------
# Budget projection
# ---------------------------------------------------------------------------

BUDGET_USD = 17000
BUDGET_DAY0_USD = 400
BUDGET_GROWTH_PER_WEEK = 1.2
BUDGET_STEP = 600  # input and evaluation every 10m
JANUARY_END = 31 * DAY
FEBRUARY_END = JANUARY_END + 28 * DAY
RESTART_AT = 22 * DAY + 9 * HOUR  # the exporter is down for 30m from here
BUDGET_LABELS = 'budget="search-monthly",period="month"'


def budget_spend(rng: random.Random, until: int) -> list[float | None]:
    """Return period-to-date spend every 10m: growing days, a daily cycle, noise, a restart gap."""
    values: list[float | None] = []
    spend = 0.0
    weights = [daily_cycle((s * BUDGET_STEP % DAY) / HOUR) for s in range(DAY // BUDGET_STEP)]
    weight_sum = sum(weights)
    for step in range(until // BUDGET_STEP + 1):
        t = step * BUDGET_STEP
        if t == JANUARY_END:
            spend = 0.0
        elif t > 0:
            day = (t - BUDGET_STEP) // DAY
            daily = BUDGET_DAY0_USD * BUDGET_GROWTH_PER_WEEK ** (day / 7)
            share = weights[((t - BUDGET_STEP) % DAY) // BUDGET_STEP] / weight_sum
            spend += daily * share * rng.uniform(0.85, 1.15)
        in_gap = RESTART_AT <= t < RESTART_AT + 30 * 60
        values.append(None if in_gap else round(spend, 2))
    return values


def budget_suite() -> dict:
    rng = random.Random(20)
    until = JANUARY_END + 2 * DAY
    spend = budget_spend(rng, until)
    # The exporter restarts at RESTART_AT: no samples for 30m, then the restored spend.
    spend_values = " ".join("_" if v is None else fmt(v) for v in spend)
    steps = until // BUDGET_STEP
    jan_steps = JANUARY_END // BUDGET_STEP
    feb_steps = steps - jan_steps

    # January runs from 0 to JANUARY_END, then February starts.
    job = f'job="llm-cost-exporter",instance="gw-1:9841",{BUDGET_LABELS}'
    inputs = [
        {"series": f"llm_budget_spend_usd{{{job}}}", "values": spend_values},
        {"series": f"llm_budget_usd{{{job}}}", "values": f"{BUDGET_USD}x{steps}"},
        {"series": f"llm_budget_period_start_timestamp_seconds{{{job}}}",
         "values": f"0x{jan_steps - 1} {JANUARY_END}x{feb_steps}"},
        {"series": f"llm_budget_period_end_timestamp_seconds{{{job}}}",
         "values": f"{JANUARY_END}x{jan_steps - 1} {FEBRUARY_END}x{feb_steps}"},
        {"series": f'llm_cost_usd_total{{{JOB},provider="openai",model="gpt-4o",token_type="output",feature="search"}}',
         "values": f"0+{fmt(BUDGET_DAY0_USD * BUDGET_STEP / DAY)}x{steps}"},
        {"series": f'llm_cost_usd_total{{{JOB},provider="openai",model="gpt-4o",token_type="output",feature="chat"}}',
         "values": f"0+0.5x{steps}"},
    ]

    labels = {"budget": "search-monthly", "period": "month", "severity": "ticket"}
    fires_at = BUDGET_EXPECTED["fires_at"]
    alert_tests = [
        # No projection in the first day of the period: the slope window must fit inside it.
        {"eval_time": "20h", "alertname": "LLMBudgetProjectedOverrun", "exp_alerts": []},
        # One evaluation before the 1h `for` is over, and the evaluation at which it is.
        {"eval_time": fires_at_minus(fires_at, 10), "alertname": "LLMBudgetProjectedOverrun", "exp_alerts": []},
        {"eval_time": fires_at, "alertname": "LLMBudgetProjectedOverrun",
         "exp_alerts": [{"exp_labels": labels, "exp_annotations": BUDGET_EXPECTED["annotations"]}]},
        # Spend itself crosses the budget only days later.
        {"eval_time": BUDGET_EXPECTED["exhausted_silent_at"], "alertname": "LLMBudgetExhausted", "exp_alerts": []},
        {"eval_time": BUDGET_EXPECTED["exhausted_at"], "alertname": "LLMBudgetExhausted",
         "exp_alerts": [{"exp_labels": {"budget": "search-monthly", "period": "month", "severity": "page"},
                         "exp_annotations": BUDGET_EXPECTED["exhausted_annotations"]}]},
    ]
    firing = 'ALERTS{alertname="LLMBudgetProjectedOverrun",alertstate="firing",budget="search-monthly",period="month",severity="ticket"}'
    expr_tests = [
        # The restart gap neither resolves the alert nor moves the projection.
        {"expr": 'min_over_time(ALERTS{alertname="LLMBudgetProjectedOverrun",alertstate="firing"}[4h])',
         "eval_time": "22d12h", "exp_samples": [{"labels": firing.replace("ALERTS", "", 1), "value": 1}]},
        {"expr": "abs(budget:llm_budget_spend_usd:projected_period_end"
                 " - budget:llm_budget_spend_usd:projected_period_end offset 2h) < bool 300",
         "eval_time": "22d10h",
         "exp_samples": [{"labels": '{budget="search-monthly",period="month"}', "value": 1}]},
        # A new month starts at zero; no projection until a whole window lies in it.
        {"expr": 'ALERTS{alertname=~"LLMBudget.*"}', "eval_time": "31d20h", "exp_samples": []},
    ]
    return {
        "rule_files": ["../rendered/llm-cost.rules.yml"],
        "evaluation_interval": "10m",
        "group_eval_order": GROUP_EVAL_ORDER,
        "tests": [
            {"interval": "10m", "input_series": inputs, "alert_rule_test": alert_tests,
             "promql_expr_test": expr_tests},
            daily_budget_test(),
        ],
    }


DAILY_BUDGET_USD = 120
DAILY_LABELS = 'budget="key-daily",period="day"'


def daily_budget_test() -> dict:
    """Return a test of a daily budget: 4 USD/h for two days, then 12 USD/h from 06:00 of day 2.

    A daily budget projects from the last hour. At 12 USD/h the 120 USD budget runs
    out around 13:00; the projection fires hours before.
    """
    steps = 3 * DAY // BUDGET_STEP
    spend, starts, ends = [], [], []
    for step in range(steps + 1):
        t = step * BUDGET_STEP
        day, second = divmod(t, DAY)
        if day == 2 and second >= 6 * HOUR:
            value = 24 + (second - 6 * HOUR) / HOUR * 12
        else:
            value = second / HOUR * 4
        spend.append(fmt(round(value, 4)))
        starts.append(str(day * DAY))
        ends.append(str((day + 1) * DAY))
    job = f'job="llm-cost-exporter",instance="gw-1:9841",{DAILY_LABELS}'
    inputs = [
        {"series": f"llm_budget_spend_usd{{{job}}}", "values": " ".join(spend)},
        {"series": f"llm_budget_usd{{{job}}}", "values": f"{DAILY_BUDGET_USD}x{steps}"},
        {"series": f"llm_budget_period_start_timestamp_seconds{{{job}}}", "values": " ".join(starts)},
        {"series": f"llm_budget_period_end_timestamp_seconds{{{job}}}", "values": " ".join(ends)},
    ]
    labels = {"budget": "key-daily", "period": "day", "severity": "ticket"}
    return {
        "interval": "10m",
        "input_series": inputs,
        "alert_rule_test": [
            # Two steady days at 96 USD a day stay silent.
            {"eval_time": "2d6h", "alertname": "LLMBudgetProjectedOverrun", "exp_alerts": []},
            {"eval_time": DAILY_EXPECTED["silent_at"], "alertname": "LLMBudgetProjectedOverrun", "exp_alerts": []},
            {"eval_time": DAILY_EXPECTED["fires_at"], "alertname": "LLMBudgetProjectedOverrun",
             "exp_alerts": [{"exp_labels": labels, "exp_annotations": DAILY_EXPECTED["annotations"]}]},
        ],
        "promql_expr_test": [
            # The spend crosses the budget only hours later.
            {"expr": "budget:llm_budget_spend_usd:sum >= bool budget:llm_budget_usd:max",
             "eval_time": DAILY_EXPECTED["fires_at"],
             "exp_samples": [{"labels": f"{{{DAILY_LABELS}}}", "value": 0}]},
            {"expr": "budget:llm_budget_spend_usd:sum >= bool budget:llm_budget_usd:max",
             "eval_time": "2d14h10m",
             "exp_samples": [{"labels": f"{{{DAILY_LABELS}}}", "value": 1}]},
        ],
    }


# Observed with promtool 2.42 on the series above; the suite pins them.
DAILY_EXPECTED = {
    "silent_at": "2d7h",
    "fires_at": "2d7h10m",
    "annotations": {
        "summary": "Budget key-daily is projected to run out before its day ends",
        "description": (
            "At the spend rate of the last 1h, budget key-daily of 120 USD reaches 240 USD by the"
            " end of the day and passes the budget around 1970-01-03 14:00:00 +0000 UTC."
            " Spent so far: 38 USD."
        ),
        "budget_usd": "120",
        "projected_spend_usd": "240",
        "projected_overrun": "1970-01-03 14:00:00 +0000 UTC",
        # No cost series in this test, so the top feature query finds nothing.
        "top_feature": "",
        "runbook_url": f"{RUNBOOKS}/LLMBudgetProjectedOverrun.md",
    },
}


def fires_at_minus(duration: str, minutes: int) -> str:
    days, _, rest = duration.partition("d")
    hours, _, mins = rest.partition("h")
    total = int(days) * 1440 + int(hours or 0) * 60 + int(mins.rstrip("m") or 0) - minutes
    return f"{total // 1440}d{total % 1440 // 60}h{total % 60}m"

# Observed with promtool 2.42 on the series above; the suite pins them.
BUDGET_EXPECTED = {
    "fires_at": "17d13h10m",
    "annotations": {
        "summary": "Budget search-monthly is projected to run out before its month ends",
        "description": (
            "At the spend rate of the last 1d, budget search-monthly of 17000 USD reaches 17010 USD"
            " by the end of the month and passes the budget around 1970-01-31 23:37:29.404 +0000 UTC."
            " Spent so far: 8709 USD."
        ),
        "budget_usd": "17000",
        "projected_spend_usd": "17010",
        "projected_overrun": "1970-01-31 23:37:29.404 +0000 UTC",
        "top_feature": "search (400 USD in the last 1d)",
        "runbook_url": f"{RUNBOOKS}/LLMBudgetProjectedOverrun.md",
    },
    "exhausted_silent_at": "28d20h",
    "exhausted_at": "28d20h10m",
    "exhausted_annotations": {
        "summary": "Budget search-monthly is spent for this month",
        "description": "Budget search-monthly has spent 17009 USD of its 17000 USD for the current month.",
        "budget_usd": "17000",
        "runbook_url": f"{RUNBOOKS}/LLMBudgetExhausted.md",
    },
}



# ---------------------------------------------------------------------------
# Normal weeks
# ---------------------------------------------------------------------------

NORMAL_DAYS = 15
NORMAL_STEP = 120  # input every 2m
GROWTH_PER_WEEK = 1.05


def traffic(hour: int, rng: random.Random, noise: float = 0.1) -> float:
    """Return the traffic of hour `hour` relative to the first week's mean."""
    day = hour // 24
    return (
        daily_cycle(hour % 24 + 0.5)
        * weekly_cycle(day)
        * GROWTH_PER_WEEK ** (hour / (24 * 7))
        * rng.uniform(1 - noise, 1 + noise)
    )


def normal_suite() -> dict:
    rng = random.Random(7)
    hours = NORMAL_DAYS * 24
    step = NORMAL_STEP
    inputs: list[dict[str, str]] = []

    features = {
        # feature: (USD per hour at mean traffic, requests per hour, cache-hit ratio, model calls, tool calls)
        "search": (40.0, 3000, 0.80, 3.0, 1.5),
        "chat": (15.0, 1200, 0.60, 1.5, 0.2),
    }
    for feature, (usd, requests, cache_ratio, model_calls, tool_calls) in features.items():
        load = [traffic(h, rng) for h in range(hours)]
        cost = [usd * x / HOUR for x in load]
        reqs = [requests * x / HOUR for x in load]
        inputs.append(series("llm_cost_usd_total",
                             f'provider="openai",model="gpt-4o",token_type="output",feature="{feature}",intent="default"',
                             counter_segments(cost, step)))
        prompt_tokens = [r * 2000 for r in reqs]
        # Cache reads dip a little at night, when caches expire between requests.
        ratios = [cache_ratio - 0.05 * (1 - daily_cycle(h % 24 + 0.5)) + rng.uniform(-0.02, 0.02) for h in range(hours)]
        for token_type, share in (("cache_read", None), ("input", 0.9), ("cache_write", 0.1)):
            if share is None:
                rates = [p * r for p, r in zip(prompt_tokens, ratios)]
            else:
                rates = [p * (1 - r) * share for p, r in zip(prompt_tokens, ratios)]
            inputs.append(series("llm_tokens_total",
                                 f'provider="openai",model="gpt-4o",token_type="{token_type}",feature="{feature}",intent="default"',
                                 counter_segments(rates, step)))
        per_request = [c / r * rng.uniform(0.95, 1.05) for c, r in zip(cost, reqs)]
        inputs.append(series("llm_request_cost_usd_count", f'feature="{feature}",intent="default",cohort="pro"',
                             counter_segments(reqs, step)))
        inputs.append(series("llm_request_cost_usd_sum", f'feature="{feature}",intent="default",cohort="pro"',
                             counter_segments([r * c for r, c in zip(reqs, per_request)], step)))
        for metric, mean in (("llm_request_model_calls", model_calls), ("llm_request_tool_calls", tool_calls)):
            inputs.append(series(f"{metric}_count", f'feature="{feature}",intent="default"', counter_segments(reqs, step)))
            calls = [r * mean * rng.uniform(0.95, 1.05) for r in reqs]
            inputs.append(series(f"{metric}_sum", f'feature="{feature}",intent="default"', counter_segments(calls, step)))
        retry = [c * 0.03 * rng.uniform(0.7, 1.3) for c in cost]
        inputs.append(series("llm_retry_cost_usd_total", f'provider="openai",error_class="rate_limit",feature="{feature}"',
                             counter_segments(retry, step)))
        prefixes = [round(4 + 3 * rng.random()) for _ in range(hours)]
        inputs.append(series("llm_prompt_prefixes", f'feature="{feature}",window="1h"', gauge_segments(prefixes, step)))

    for cohort, p95 in (("free", 0.3), ("pro", 3.0)):
        values = [p95 * weekly_cycle(h // 24) * rng.uniform(0.9, 1.1) for h in range(hours)]
        inputs.append(series("llm_user_spend_usd", f'cohort="{cohort}",window="24h",quantile="0.95"',
                             gauge_segments(values, step)))
        inputs.append(series("llm_active_users", f'cohort="{cohort}",window="24h"',
                             gauge_segments([400 * rng.uniform(0.9, 1.1) for _ in range(hours)], step)))

    # Vendor cost: each day's cost arrives at 02:00 the next day, within 2% of the gateway's.
    gateway_daily = [0.0] * NORMAL_DAYS
    rng_vendor = random.Random(11)
    for entry in inputs:
        if not entry["series"].startswith("llm_cost_usd_total"):
            continue
        hourly = segments_hourly_increase(entry["values"], step)
        for h, inc in enumerate(hourly):
            gateway_daily[h // 24] += inc
    vendor_values = []
    vendor_end = []
    cumulative = 0.0
    for h in range(hours):
        day, hour_of_day = divmod(h, 24)
        if hour_of_day == 2 and day >= 1:
            cumulative += gateway_daily[day - 1] * rng_vendor.uniform(0.98, 1.02)
        vendor_values.append(cumulative)
        vendor_end.append(day * DAY if hour_of_day >= 2 else max(day - 1, 0) * DAY)
    inputs.append(series("llm_vendor_cost_usd_total", 'provider="openai",project="default",line_item="gpt-4o"',
                         gauge_segments(vendor_values, step)))
    inputs.append(series("llm_vendor_data_end_timestamp_seconds", 'provider="openai",source="openai-costs"',
                         gauge_segments(vendor_end, step)))

    # A monthly budget the normal traffic stays well inside.
    steps = hours * HOUR // step
    month_spend = [sum(gateway_daily[: h // 24]) + gateway_daily[h // 24] * (h % 24) / 24 for h in range(hours)]
    budget = 'budget="platform-monthly",period="month"'
    inputs.append(series("llm_budget_spend_usd", budget, gauge_segments(month_spend, step)))
    inputs.append(series("llm_budget_usd", budget, f"60000x{steps}"))
    inputs.append(series("llm_budget_period_start_timestamp_seconds", budget, f"0x{steps}"))
    inputs.append(series("llm_budget_period_end_timestamp_seconds", budget, f"{31 * DAY}x{steps}"))

    # A healthy exporter.
    inputs.append({"series": f"up{{{JOB}}}", "values": f"1x{steps}"})
    inputs.append(series("llm_exporter_source_last_success_timestamp_seconds", 'source="gateway"',
                         f"0+{step}x{steps}"))
    inputs.append(series("llm_exporter_events_total", 'source="gateway",result="accepted"', f"0+200x{steps}"))
    inputs.append(series("llm_exporter_events_total", 'source="gateway",result="rejected"', f"0+0.1x{steps}"))
    inputs.append(series("llm_exporter_label_overflow_total", 'label="intent"', f"3x{steps}"))

    end = f"{NORMAL_DAYS}d"
    return {
        "rule_files": ["../rendered/llm-cost.rules.yml"],
        "evaluation_interval": "10m",
        "group_eval_order": GROUP_EVAL_ORDER,
        "tests": [{
            "interval": "2m",
            "input_series": inputs,
            "promql_expr_test": [
                # Nothing fires or is even pending in fifteen days, the first week included.
                {"expr": f"max_over_time(ALERTS[{NORMAL_DAYS}d])", "eval_time": end, "exp_samples": []},
                # The rules did see the data: the recorded series exist.
                {"expr": 'count(feature:llm_cost_usd:rate7d > 0)', "eval_time": end,
                 "exp_samples": [{"labels": "{}", "value": 2}]},
                {"expr": "count(feature_intent:llm_request_cost_usd:mean1h_prediction)", "eval_time": end,
                 "exp_samples": [{"labels": "{}", "value": 2}]},
                {"expr": "count(feature:llm_request_cost_usd:mean1d_prediction)", "eval_time": end,
                 "exp_samples": [{"labels": "{}", "value": 2}]},
                # The burn rate's seasonal guard had a week of history to compare with.
                {"expr": "count(feature:llm_cost_usd:rate1h_max2h_offset1w)", "eval_time": end,
                 "exp_samples": [{"labels": "{}", "value": 2}]},
                {"expr": "count(feature:llm_cache_hit:ratio_rate1d offset 1w)", "eval_time": end,
                 "exp_samples": [{"labels": "{}", "value": 2}]},
                {"expr": "count(provider:llm_vendor_cost_usd:increase7d)", "eval_time": end,
                 "exp_samples": [{"labels": "{}", "value": 1}]},
            ],
        }],
    }


def segments_hourly_increase(values: str, step: int) -> list[float]:
    """Return the increase of each hour of a counter written by `counter_segments`."""
    increases = []
    for part in values.split(" "):
        start, _, rest = part.partition("+")
        increment, _, count = rest.partition("x")
        increases.append(float(increment) * (HOUR // step))
    return increases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=HERE,
                        help="folder to write the suites to (default: the folder of this script)")
    out = parser.parse_args().output_dir
    write(out / "budget_projection.test.yml",
          "# Generated by generate_suites.py; edit that script, not this file.\n"
          "# A monthly budget whose daily spend grows 20% a week is projected to overrun days\n"
          "# before the spend crosses the budget; an exporter restart does not disturb it.\n",
          budget_suite())
    write(out / "normal_weeks.test.yml",
          "# Generated by generate_suites.py; edit that script, not this file.\n"
          "# Fifteen days of ordinary traffic with daily and weekly seasonality, growth and\n"
          "# noise: no alert may fire or even be pending.\n",
          normal_suite())


if __name__ == "__main__":
    main()
