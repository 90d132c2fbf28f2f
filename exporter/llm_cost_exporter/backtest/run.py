"""Run one backtest scenario end to end: simulate, replay, backfill, evaluate, compare."""

from __future__ import annotations

import calendar
import logging
import os
import pickle
import shutil
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..config.loader import parse_config
from ..config.models import Config
from ..workloads.generator import WorkloadGenerator
from ..workloads.profile import Profile, load_profile
from ..workloads.timestamps import parse_rfc3339
from .evaluate import Evaluation, Firing, evaluate_rules
from .exposition import OpenMetricsWriter, Replay
from .prometheus import BacktestToolError, PrometheusServer, backfill
from .rules import RuleSet
from .scenarios import DAY, SCENARIOS, BacktestScenario, ScenarioTimeline

log = logging.getLogger(__name__)

BUDGET_NAME = "total"
TARGET_LABELS = {"job": "llm-cost-exporter", "instance": "backtest"}
# The static alert that the rules are compared with: spend at this share of the monthly budget.
STATIC_BUDGET_SHARE = 0.8
SEVERITY_RANK = {"ticket": 1, "page": 2}
# Step of the spend-rate series drawn in the charts.
CHART_STEP_SECONDS = 600.0


@dataclass(frozen=True)
class Settings:
    """Traffic and timing of a backtest. Defaults keep a 30-day scenario to about a minute."""

    month_start: float = parse_rfc3339("2026-03-01T00:00:00Z")
    days: float = 30.0
    warmup_days: float = 7.0
    # Mean requests per second of the profile before seasonality and growth.
    request_rate: float = 0.25
    # Seconds of event time between two scrapes.
    step: float = 120.0
    seed: int = 1
    # Onset in seconds after month_start for every scenario, replacing each scenario's own.
    onset_offset: float | None = None
    # Monthly budget of all spend; None sets BUDGET_USD_PER_REQUEST_RATE * request_rate.
    budget_usd: float | None = None

    @property
    def start(self) -> float:
        return self.month_start - self.warmup_days * DAY

    @property
    def end(self) -> float:
        return self.month_start + self.days * DAY

    @property
    def budget(self) -> float:
        return self.budget_usd if self.budget_usd is not None else BUDGET_USD_PER_REQUEST_RATE * self.request_rate


# The default profile at 0.25 requests per second with 5% weekly growth spends about
# 13,000 USD in March 2026 (measured with seed 1), so 18,000 USD is a budget that a
# normal month stays well inside and 20% weekly growth overruns.
BUDGET_USD_PER_REQUEST_RATE = 72_000.0


@dataclass
class ScenarioResult:
    scenario: BacktestScenario
    settings: Settings
    onset: float | None
    evaluation: Evaluation
    static_80_percent: float | None
    budget_crossed: float | None
    invoice: float
    spend_rate: list[tuple[float, float]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    samples: int = 0

    def firings_in_month(self) -> list[Firing]:
        return [f for f in self.evaluation.firings
                if (f.end is None or f.end > self.settings.month_start) and f.start <= self.settings.end]

    def firings_after_onset(self) -> list[Firing]:
        begin = self.onset if self.onset is not None else self.settings.month_start
        return sorted((f for f in self.firings_in_month() if f.start >= begin), key=lambda f: (f.start, f.alert))

    def firings_before_onset(self) -> list[Firing]:
        """Firings in the evaluated month before the onset: false alarms."""
        if self.onset is None:
            return []
        return sorted((f for f in self.firings_in_month() if f.start < self.onset), key=lambda f: (f.start, f.alert))

    def first_after_onset(self) -> dict[str, Firing]:
        first: dict[str, Firing] = {}
        for firing in self.firings_after_onset():
            first.setdefault(firing.alert, firing)
        return first

    def earliest(self, severity: str = "any") -> Firing | None:
        for firing in self.firings_after_onset():
            if severity == "any" or SEVERITY_RANK.get(firing.severity, 0) >= SEVERITY_RANK[severity]:
                return firing
        return None

    def verdict(self) -> tuple[bool, str]:
        """Whether the rules met the scenario's acceptance, and why."""
        name = self.scenario.name
        if name == "baseline":
            pages = [f for f in self.firings_in_month() if f.severity == "page"]
            tickets = [f for f in self.firings_in_month() if f.severity == "ticket"]
            return (not pages and len(tickets) <= 1,
                    f"{len(pages)} page(s) and {len(tickets)} ticket(s); expected no page and at most one ticket")
        if name == "budget-growth":
            overrun = next((f for f in self.firings_after_onset() if f.alert == "LLMBudgetProjectedOverrun"), None)
            if overrun is None:
                return False, "LLMBudgetProjectedOverrun never fired"
            if self.budget_crossed is None:
                return False, "spend never crossed the budget, so the lead time is undefined"
            lead = self.budget_crossed - overrun.start
            before_static = self.static_80_percent is None or overrun.start < self.static_80_percent
            return (lead >= 5 * DAY and before_static,
                    f"projected overrun {lead / DAY:.1f} days before the budget was crossed"
                    f"{'' if before_static else ', but not before the static 80% alert'}")
        expectation = self.scenario.expectation
        firing = self.earliest(expectation.severity)
        if firing is None:
            return False, f"no {expectation.severity} alert after the onset; expected {expectation.text}"
        delay = firing.start - self.onset
        return delay <= expectation.within, f"{firing.alert} after {format_delay(delay)}; expected {expectation.text}"


def format_delay(seconds: float) -> str:
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY:.1f} d"


def format_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_month_start(ts: float) -> float:
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


def exporter_config(ruleset: RuleSet, settings: Settings) -> Config:
    """The exporter settings of a backtest: one monthly budget over all spend.

    Only the rolling windows that the rules select are kept, because summarizing every
    user's spend for unused windows dominates the replay time.
    """
    windows = sorted(ruleset.windows_read()) or [3600.0]
    return parse_config(
        "labels: {attribution: [feature, intent, cohort]}\n"
        f"cohorts: {{windows: [{', '.join(f'{w:g}s' for w in windows)}]}}\n"
        f"prefixes: {{windows: [{', '.join(f'{w:g}s' for w in windows)}]}}\n"
        f"budgets: [{{name: {BUDGET_NAME}, period: month, amount_usd: {settings.budget!r}, timezone: UTC}}]\n",
        "<backtest>",
    )


def first_time(server: PrometheusServer, expr: str, start: float, end: float, step: float) -> float | None:
    times = [t for values in server.query_range(expr, start, end, step).values() for t, _ in values]
    return min(times) if times else None


class _Branch:
    """Where a scenario's replay leaves the shared baseline replay."""

    def __init__(self, name: str, at: float, onset: float | None) -> None:
        self.name = name
        self.at = at
        self.onset = onset


def run_scenarios(names: list[str], ruleset: RuleSet, workdir: Path, settings: Settings = Settings(),
                  jobs: int = 1, profile: Profile | None = None, keep_tsdb: bool = False) -> list[ScenarioResult]:
    """Run the scenarios `names` and return their results in that order.

    Every scenario is the baseline until its onset, and the generator and the aggregator are
    deterministic, so one baseline replay serves all of them: at each onset the process
    forks, and the child switches to the scenario's failure and replays only the rest of
    the period. At most `jobs` processes replay or evaluate at once.
    """
    for name in names:
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    profile = (profile or load_profile(None)).model_copy(update={"requests_per_second": settings.request_rate})
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)

    branches = []
    for name in names:
        scenario = SCENARIOS[name]
        if scenario.change is None:
            continue
        if scenario.from_warmup:
            onset = settings.start
        else:
            offset = settings.onset_offset if settings.onset_offset is not None else scenario.onset_offset
            onset = settings.month_start + offset
        if not settings.start <= onset < settings.end:
            raise ValueError(f"the onset of {name} at {format_time(onset)} lies outside the backtest period "
                             f"{format_time(settings.start)} to {format_time(settings.end)}; "
                             "choose another onset offset or more days")
        branches.append(_Branch(name, onset, onset))
    branches.sort(key=lambda branch: branch.at)

    timeline = ScenarioTimeline(profile, settings.start, None, None)
    generator = WorkloadGenerator(timeline, settings.seed, settings.start)
    trunk_dir = workdir / "baseline"
    trunk_dir.mkdir()
    out = open(trunk_dir / "exporter.om", "wb")
    replay = Replay(exporter_config(ruleset, settings), OpenMetricsWriter(out, TARGET_LABELS), settings.start,
                    settings.step, ruleset.raw_names())
    children: dict[int, str] = {}
    role = {"name": "baseline", "dir": trunk_dir, "onset": None}
    last_branch = branches[-1].at if branches else None

    class TrunkDone(Exception):
        pass

    def branch_off(branch: _Branch):
        def callback(current: Replay) -> None:
            if role["name"] != "baseline":
                return  # a child passes the later branch points of its siblings
            current.writer.out.flush()
            prefix_bytes = current.writer.out.tell()
            pid = os.fork()
            if pid == 0:
                _become_branch(current, timeline, branch, workdir / branch.name, trunk_dir / "exporter.om",
                               prefix_bytes, role)
                return
            children[pid] = branch.name
            # This process replays too, so it counts as one of the `jobs`.
            while len(children) > jobs - 1:
                finished, _ = os.waitpid(-1, 0)
                children.pop(finished, None)
            if branch.at == last_branch and "baseline" not in names:
                raise TrunkDone
        return callback

    began = time.monotonic()
    try:
        replay.run(generator.events(end=settings.end), settings.end,
                   [(branch.at, branch_off(branch)) for branch in branches])
    except TrunkDone:
        out.close()

    if role["name"] != "baseline":
        _finish_child(role, replay, ruleset, settings, began, keep_tsdb)  # never returns

    results: dict[str, ScenarioResult] = {}
    if "baseline" in names:
        results["baseline"] = _evaluate(SCENARIOS["baseline"], None, trunk_dir, replay.writer.samples, ruleset,
                                        settings, {"replay": time.monotonic() - began}, keep_tsdb)
    failures = []
    while children:
        pid, _ = os.waitpid(-1, 0)
        children.pop(pid, None)
    if (trunk_dir / "exporter.om").exists():
        (trunk_dir / "exporter.om").unlink()
    for branch in branches:
        path = workdir / branch.name / "result.pickle"
        try:
            outcome = pickle.loads(path.read_bytes())
        except OSError:
            failures.append(f"{branch.name}: the scenario's process exited without a result")
            continue
        if isinstance(outcome, str):
            failures.append(f"{branch.name}: {outcome}")
        else:
            results[branch.name] = outcome
    if failures:
        raise BacktestToolError("backtest failed:\n" + "\n".join(failures))
    return [results[name] for name in names]


def _become_branch(replay: Replay, timeline: ScenarioTimeline, branch: _Branch, directory: Path, trunk_file: Path,
                   prefix_bytes: int, role: dict) -> None:
    """In the forked child: switch the replay to the scenario and to its own copy of the samples so far."""
    directory.mkdir(parents=True, exist_ok=True)
    out = open(directory / "exporter.om", "wb")
    with open(trunk_file, "rb") as trunk:
        remaining = prefix_bytes
        while remaining > 0:
            chunk = trunk.read(min(remaining, 1 << 22))
            if not chunk:
                break
            out.write(chunk)
            remaining -= len(chunk)
    replay.writer.out = out
    scenario = SCENARIOS[branch.name]
    timeline.failure = scenario.change
    timeline.onset = branch.onset
    timeline.reset()
    role.update(name=branch.name, dir=directory, onset=branch.onset)


def _finish_child(role: dict, replay: Replay, ruleset: RuleSet, settings: Settings, began: float,
                  keep_tsdb: bool) -> None:
    """Evaluate the child's scenario, store its result for the parent and exit the process."""
    directory: Path = role["dir"]
    code = 0
    try:
        result = _evaluate(SCENARIOS[role["name"]], role["onset"], directory, replay.writer.samples, ruleset,
                           settings, {"replay": time.monotonic() - began}, keep_tsdb)
        payload = pickle.dumps(result)
    except BaseException as err:  # reported by the parent, which has the terminal
        payload = pickle.dumps(f"{type(err).__name__}: {err}\n{traceback.format_exc()}")
        code = 1
    (directory / "result.pickle").write_bytes(payload)
    logging.shutdown()
    os._exit(code)


def _evaluate(scenario: BacktestScenario, onset: float | None, directory: Path, samples: int, ruleset: RuleSet,
              settings: Settings, timings: dict[str, float], keep_tsdb: bool) -> ScenarioResult:
    raw = directory / "exporter.om"
    data_dir = directory / "data"
    began = time.monotonic()
    backfill(raw, data_dir)
    raw.unlink()
    timings["backfill"] = time.monotonic() - began

    month = settings.month_start
    baselines: dict[str, object] = {}

    def measure_baselines(server: PrometheusServer) -> None:
        budget = f'llm_budget_spend_usd{{budget="{BUDGET_NAME}"}}'
        limit = f'llm_budget_usd{{budget="{BUDGET_NAME}"}}'
        baselines["static"] = first_time(server, f"{budget} >= {STATIC_BUDGET_SHARE} * {limit}",
                                         month, settings.end, 60.0)
        baselines["crossed"] = first_time(server, f"{budget} >= {limit}", month, settings.end, 60.0)
        series = server.query_range('sum(rate(llm_cost_usd_total{job="llm-cost-exporter"}[1h])) * 3600',
                                    settings.start, settings.end, CHART_STEP_SECONDS)
        baselines["spend_rate"] = next(iter(series.values()), [])

    began = time.monotonic()
    evaluation = evaluate_rules(ruleset, directory, data_dir, settings.start, settings.end, measure_baselines)
    timings["rules"] = time.monotonic() - began
    timings.update({f"rules: {key}": value for key, value in evaluation.timings.items()})
    if not keep_tsdb:
        shutil.rmtree(data_dir, ignore_errors=True)
    log.info("scenario %s evaluated: %d firings", scenario.name, len(evaluation.firings))
    return ScenarioResult(
        scenario=scenario,
        settings=settings,
        onset=onset,
        evaluation=evaluation,
        static_80_percent=baselines["static"],
        budget_crossed=baselines["crossed"],
        invoice=next_month_start(onset if onset is not None and onset >= month else month),
        spend_rate=baselines["spend_rate"],
        timings=timings,
        samples=samples,
    )
