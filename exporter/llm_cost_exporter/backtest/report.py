"""Backtest results: results.json, results.md and one chart per scenario."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from .run import STATIC_BUDGET_SHARE, ScenarioResult, format_delay


def iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def result_document(result: ScenarioResult) -> dict:
    """Build the JSON form of one scenario, with every time in Unix seconds."""
    settings = result.settings
    met, reason = result.verdict()
    earliest = result.earliest()
    alerts = {
        name: {
            "first_firing": _seconds(firing.start),
            "severity": firing.severity,
            "labels": firing.labels,
            "after_onset_seconds": _seconds(firing.start - result.onset) if result.onset is not None else None,
        }
        for name, firing in result.first_after_onset().items()
    }
    return {
        "scenario": result.scenario.name,
        "description": result.scenario.description,
        "onset": _seconds(result.onset),
        "start": _seconds(settings.start),
        "month_start": _seconds(settings.month_start),
        "end": _seconds(result.end),
        "alerts": alerts,
        "false_alerts_before_onset": [
            {"alert": f.alert, "severity": f.severity, "first_firing": _seconds(f.start), "labels": f.labels}
            for f in result.firings_before_onset()
        ],
        "firings": [
            {"alert": f.alert, "severity": f.severity, "start": _seconds(f.start), "end": _seconds(f.end),
             "labels": f.labels}
            for f in sorted(result.firings_in_month(), key=lambda f: (f.start, f.alert))
        ],
        "baselines": {
            "static_80_percent": _seconds(result.static_80_percent),
            "budget_crossed": _seconds(result.budget_crossed),
            "invoice": _seconds(result.invoice),
        },
        "lead_time_seconds": {
            "vs_static_80_percent": (_seconds(result.static_80_percent - earliest.start)
                                     if earliest and result.static_80_percent else None),
            "vs_invoice": _seconds(result.invoice - earliest.start) if earliest else None,
        },
        "acceptance": {"met": met, "detail": reason},
        "settings": {
            "request_rate": settings.request_rate,
            "scrape_step_seconds": settings.step,
            "warmup_days": settings.warmup_days,
            "days": settings.days,
            "seed": settings.seed,
            "monthly_budget_usd": settings.budget,
        },
        "samples": result.samples,
        "timings_seconds": {key: round(value, 1) for key, value in result.timings.items()},
    }


def _lead(reference: float | None, firing_time: float | None) -> str:
    if reference is None or firing_time is None:
        return "-"
    lead = reference - firing_time
    return format_delay(lead) if lead >= 0 else f"{format_delay(-lead)} later"


def markdown_table(results: list[ScenarioResult]) -> str:
    lines = [
        "| scenario | onset (UTC) | first alert after onset | delay | lead vs static 80% | lead vs invoice "
        "| false alerts | acceptance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        met, reason = result.verdict()
        earliest = result.earliest()
        if result.scenario.name == "baseline":
            fired = sorted({f"{f.alert} ({f.severity})" for f in result.firings_in_month()})
            lines.append(f"| baseline | - | {', '.join(fired) or 'none'} | - | - | - | - "
                         f"| {'met' if met else 'NOT met'}: {reason} |")
            continue
        first = f"{earliest.alert} ({earliest.severity})" if earliest else "none"
        delay = format_delay(earliest.start - result.onset) if earliest else "-"
        static = _lead(result.static_80_percent, earliest.start if earliest else None)
        invoice = _lead(result.invoice, earliest.start if earliest else None)
        false_alerts = sorted({f"{f.alert} ({f.severity})" for f in result.firings_before_onset()})
        lines.append(f"| {result.scenario.name} | {iso(result.onset)} | {first} | {delay} | {static} | {invoice} "
                     f"| {', '.join(false_alerts) or 'none'} | {'met' if met else 'NOT met'}: {reason} |")
    return "\n".join(lines)


def alert_table(results: list[ScenarioResult]) -> str:
    lines = ["| scenario | alert | severity | first firing after onset (UTC) | delay |", "|---|---|---|---|---|"]
    for result in results:
        for name, firing in result.first_after_onset().items():
            delay = format_delay(firing.start - result.onset) if result.onset is not None else "-"
            lines.append(f"| {result.scenario.name} | {name} | {firing.severity} | {iso(firing.start)} | {delay} |")
    return "\n".join(lines)


def write_report(results: list[ScenarioResult], output: Path, elapsed: float) -> None:
    output.mkdir(parents=True, exist_ok=True)
    documents = [result_document(result) for result in results]
    (output / "results.json").write_text(json.dumps({"scenarios": documents, "elapsed_seconds": round(elapsed, 1)},
                                                    indent=2, sort_keys=True) + "\n")
    settings = results[0].settings
    text = [
        "# Backtest results",
        "",
        f"Generated by `llm-cost-exporter backtest` in {elapsed:.0f} s. Each scenario is a month "
        f"({settings.days:g} days from {iso(settings.month_start)} UTC) after a {settings.warmup_days:g}-day "
        f"warm-up, simulated at {settings.request_rate:g} requests per second (before seasonality and growth), "
        f"scraped every {settings.step:g} s of event time, with a monthly budget of {settings.budget:,.0f} USD. "
        f"A failure scenario ends one day after its acceptance deadline. The static baseline is an alert at "
        f"{STATIC_BUDGET_SHARE:.0%} of the budget, and `-` means it did not fire before the scenario ended. The "
        "invoice arrives on the first day of the next month. False alerts fired in the evaluated month before "
        "the onset.",
        "",
        markdown_table(results),
        "",
        "## First firing of each alert",
        "",
        alert_table(results),
        "",
    ]
    (output / "results.md").write_text("\n".join(text))


def write_chart(result: ScenarioResult, path: Path) -> None:
    """Draw the spend rate with the onset and every alert's first firing after it.

    The upper panel shows the evaluated month, and the lower one the day around the onset,
    where the firings of a fast alert would otherwise overlap the onset.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    month_start = result.settings.month_start
    onset = result.onset if result.onset is not None and result.onset >= month_start else None
    panels = 2 if onset is not None else 1
    figure, axes_list = pyplot.subplots(panels, 1, figsize=(11, 4.2 * panels), dpi=100, squeeze=False)
    _draw_panel(axes_list[0][0], result, month_start, result.end, "%b %d", legend=True)
    if onset is not None:
        # The lower panel zooms in on the onset: to 18 hours after it, or to 6 hours past the
        # first alert after it when that is later.
        after = result.firings_after_onset()
        zoom_end = max(onset + 18 * 3600, after[0].start + 6 * 3600 if after else 0.0)
        _draw_panel(axes_list[1][0], result, onset - 6 * 3600, min(result.end, zoom_end), "%d %H:%M",
                    legend=False)
    met, reason = result.verdict()
    figure.suptitle(f"{result.scenario.name}: {result.scenario.description}\n"
                    f"{'met' if met else 'NOT met'}: {reason}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def _draw_panel(axes, result: ScenarioResult, start: float, end: float, time_format: str, legend: bool) -> None:
    from matplotlib.dates import DateFormatter

    def when(ts: float) -> datetime:
        return datetime.fromtimestamp(ts, tz=timezone.utc)

    points = [(t, v) for t, v in result.spend_rate if start <= t <= end]
    axes.plot([when(t) for t, _ in points], [v for _, v in points], color="#1f77b4", linewidth=0.8,
              label="spend rate (USD/h, 1h window)")
    if result.onset is not None and start <= result.onset <= end:
        axes.axvline(when(result.onset), color="black", linestyle="--", linewidth=1.5, label="onset")
    colors = {"page": "#d62728", "ticket": "#ff7f0e"}
    for index, (name, firing) in enumerate(result.first_after_onset().items()):
        if start <= firing.start <= end:
            axes.axvline(when(firing.start), color=colors.get(firing.severity, "grey"), linewidth=1.2,
                         linestyle=(0, (1 + index % 3, 1)), label=f"{name} ({firing.severity})")
    for firing in result.firings_before_onset():
        if start <= firing.start <= end:
            axes.axvline(when(firing.start), color="grey", linewidth=0.8, alpha=0.6)
    if result.static_80_percent is not None and start <= result.static_80_percent <= end:
        axes.axvline(when(result.static_80_percent), color="#2ca02c", linewidth=1.2, label="static 80% of budget")
    if result.budget_crossed is not None and start <= result.budget_crossed <= end:
        axes.axvline(when(result.budget_crossed), color="#9467bd", linewidth=1.2, label="spend crossed the budget")
    axes.set_xlim(when(start), when(end))
    axes.set_ylabel("USD per hour")
    axes.xaxis.set_major_formatter(DateFormatter(time_format))
    axes.grid(alpha=0.3)
    if legend:
        axes.legend(fontsize=7, loc="upper left")
