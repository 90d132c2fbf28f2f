"""Run one backtest scenario end to end: simulate, replay, backfill, evaluate, compare."""

from __future__ import annotations

import calendar
import logging
import multiprocessing
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
from .evaluate import Evaluation, Firing, SharedHistory, evaluate_rules, link_blocks
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
    """Traffic and timing of a backtest.

    The defaults keep all nine scenarios to 5 to 7 minutes with two jobs on two cores.
    """

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
# 13,000 USD in March 2026 (an estimate from the profile's 830 USD a Monday at 0.5
# requests per second). A normal month stays well inside 18,000 USD, and 20% weekly
# growth overruns it.
BUDGET_USD_PER_REQUEST_RATE = 72_000.0


@dataclass
class ScenarioResult:
    scenario: BacktestScenario
    settings: Settings
    onset: float | None
    # End of the evaluated period: the month's end, or sooner after the onset (see `scenario_end`).
    end: float
    evaluation: Evaluation
    static_80_percent: float | None
    budget_crossed: float | None
    invoice: float
    spend_rate: list[tuple[float, float]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    samples: int = 0

    def firings_in_month(self) -> list[Firing]:
        return [f for f in self.evaluation.firings
                if (f.end is None or f.end > self.settings.month_start) and f.start <= self.end]

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
        """Return whether the rules met the scenario's acceptance criterion, and why."""
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


# A failure scenario is evaluated until this long after its acceptance deadline (or the
# month's end), because nothing after it changes the result and replaying it costs time.
EVALUATION_MARGIN_SECONDS = DAY


def scenario_end(scenario: BacktestScenario, onset: float | None, settings: Settings) -> float:
    if scenario.expectation is None or onset is None:
        return settings.end
    return min(settings.end, onset + scenario.expectation.within + EVALUATION_MARGIN_SECONDS)


def format_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_month_start(ts: float) -> float:
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


def exporter_config(ruleset: RuleSet, settings: Settings) -> Config:
    """Build the exporter settings of a backtest, with one monthly budget over all spend.

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


@dataclass(frozen=True)
class _Branch:
    """A branch point: where a scenario's replay leaves the shared baseline replay."""

    name: str
    at: float
    onset: float
    end: float


class _Slots:
    """At most `jobs` processes replay or evaluate at once; the others wait here."""

    def __init__(self, jobs: int) -> None:
        self._semaphore = multiprocessing.get_context("fork").Semaphore(jobs)

    def acquire(self) -> None:
        self._semaphore.acquire()

    def release(self) -> None:
        self._semaphore.release()

    def __enter__(self) -> "_Slots":
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def run_scenarios(names: list[str], ruleset: RuleSet, workdir: Path, settings: Settings = Settings(),
                  jobs: int = 1, profile: Profile | None = None, keep_tsdb: bool = False) -> list[ScenarioResult]:
    """Run the scenarios `names` and return their results in that order.

    Every scenario is the baseline until its onset, and the generator, the aggregator and
    the rules are deterministic. So one baseline replay serves all of them. At each onset
    the process forks, and the child switches to the scenario's failure and replays only
    the rest of the period. The baseline's TSDB blocks, recorded series and alert results
    are cut at the onsets, and each child reuses those before its onset and evaluates the
    rules only after it. At most `jobs` processes replay or evaluate at once.
    """
    for name in names:
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; expected one of {', '.join(SCENARIOS)}")
    profile = (profile or load_profile(None)).model_copy(update={"requests_per_second": settings.request_rate})
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)

    branches = [_branch(name, settings) for name in names if SCENARIOS[name].change is not None]
    branches.sort(key=lambda branch: branch.at)
    history = SharedHistory(workdir / "shared", sorted({branch.at for branch in branches}))
    history.root.mkdir()
    # Without the baseline in the results, the shared replay only has to reach the last onset.
    trunk_end = settings.end if "baseline" in names or not branches else branches[-1].at

    timeline = ScenarioTimeline(profile, settings.start, None, None)
    generator = WorkloadGenerator(timeline, settings.seed, settings.start)
    trunk_dir = workdir / "baseline"
    trunk_dir.mkdir()
    segment_files = [trunk_dir / f"exporter-segment{index}.om" for index in range(len(history.boundaries) + 1)]
    replay = Replay(exporter_config(ruleset, settings),
                    OpenMetricsWriter(open(segment_files[0], "wb"), TARGET_LABELS),
                    settings.start, settings.step, ruleset.raw_names())
    slots = _Slots(jobs)
    children: dict[int, str] = {}
    state = {"segment": 0, "branch": None, "forked_at": 0.0}

    def branch_off(branch: _Branch):
        def callback(current: Replay) -> None:
            if state["branch"] is not None:
                return  # a child passes the later branch points of its siblings
            current.writer.out.flush()
            pid = os.fork()
            if pid == 0:
                state["branch"] = branch
                current.writer.out = open(workdir / branch.name / "exporter.om", "wb")
                current.end = branch.end
                timeline.failure = SCENARIOS[branch.name].change
                timeline.onset = branch.onset
                timeline.reset()
                slots.acquire()  # released by _run_branch
                state["forked_at"] = time.monotonic()
                return
            children[pid] = branch.name
            log.info("replay reached %s: scenario %s continues from its onset in process %d",
                     format_time(branch.at), branch.name, pid)
            index = state["segment"]
            if index >= len(history.boundaries) or branch.at != history.boundaries[index]:
                return  # a second scenario with the same onset: the segment is already cut
            state["segment"] += 1
            current.writer.out.write(b"# EOF\n")
            current.writer.out.close()
            current.writer.out = open(segment_files[state["segment"]], "wb")
        return callback

    for branch in branches:
        (workdir / branch.name).mkdir()
    began = time.monotonic()
    events = generator.events(end=settings.end)
    checkpoints = [(branch.at, branch_off(branch)) for branch in branches]
    slots.acquire()
    log.info("replaying the baseline from %s (warm-up included) to %s at %g requests/s; each scenario "
             "branches off at its onset", format_time(settings.start), format_time(trunk_end), settings.request_rate)
    try:
        replay.run(events, trunk_end, checkpoints)
    except BaseException as err:
        slots.release()
        if state["branch"] is not None:
            _exit_child(workdir / state["branch"].name, err)
        history.failed_marker.write_text(f"{type(err).__name__}: {err}")
        raise
    if state["branch"] is not None:
        _run_branch(state["branch"], replay, ruleset, settings, history, slots, state["forked_at"], keep_tsdb,
                    workdir)
    try:
        results = _finish_trunk(names, replay, segment_files, trunk_dir, history, ruleset, settings, trunk_end,
                                began, keep_tsdb)
    except BaseException as err:
        history.failed_marker.write_text(f"{type(err).__name__}: {err}")
        raise
    finally:
        slots.release()
    history.ready_marker.touch()

    failures = []
    while children:
        pid, _ = os.waitpid(-1, 0)
        children.pop(pid, None)
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
    if not keep_tsdb:
        shutil.rmtree(history.root, ignore_errors=True)
    if failures:
        raise BacktestToolError("backtest failed:\n" + "\n".join(failures))
    return [results[name] for name in names]


def _branch(name: str, settings: Settings) -> _Branch:
    scenario = SCENARIOS[name]
    if scenario.from_warmup:
        onset = settings.start
    else:
        offset = settings.onset_offset if settings.onset_offset is not None else scenario.onset_offset
        onset = settings.month_start + offset
    if not settings.start <= onset < settings.end:
        raise ValueError(f"the onset of {name} at {format_time(onset)} lies outside the backtest period "
                         f"{format_time(settings.start)} to {format_time(settings.end)}; "
                         "choose another onset offset or more days")
    return _Branch(name, onset, onset, scenario_end(scenario, onset, settings))


def _finish_trunk(names, replay: Replay, segment_files: list[Path], trunk_dir: Path, history: SharedHistory,
                  ruleset: RuleSet, settings: Settings, trunk_end: float, began: float,
                  keep_tsdb: bool) -> dict[str, ScenarioResult]:
    """Backfill the baseline's segments, evaluate the rules over them and share the results."""
    replay.writer.out.close()  # Replay.run has written its `# EOF`
    timings = {"replay": time.monotonic() - began}
    began = time.monotonic()
    data_dir = trunk_dir / "data"
    for index, path in enumerate(segment_files):
        if path.exists():
            if path.stat().st_size > len(b"# EOF\n"):
                segment = history.segment_dir("exporter", index)
                backfill(path, segment)
                link_blocks(segment, data_dir)
            path.unlink()
    timings["backfill"] = time.monotonic() - began
    result = _evaluate(SCENARIOS["baseline"], None, trunk_end, trunk_dir, replay.writer.samples, ruleset, settings,
                       timings, keep_tsdb, share=history)
    return {"baseline": result} if "baseline" in names else {}


def _run_branch(branch: _Branch, replay: Replay, ruleset: RuleSet, settings: Settings, history: SharedHistory,
                slots: _Slots, began: float, keep_tsdb: bool, workdir: Path) -> None:
    """In a forked child, after its replay: evaluate the scenario, store the result and exit.

    The child owns a slot on entry, taken when it forked.
    """
    directory = workdir / branch.name
    data_dir = directory / "data"
    try:
        try:
            replay.writer.out.close()
            timings = {"replay": time.monotonic() - began}
            began = time.monotonic()
            backfill(directory / "exporter.om", data_dir)
            (directory / "exporter.om").unlink()
            timings["backfill"] = time.monotonic() - began
        finally:
            slots.release()  # taken at the fork
        resume_from = None
        if branch.at > settings.start:
            history.wait_ready()
            history.link_into(data_dir, branch.at)
            resume_from = (history, branch.at)
        with slots:
            result = _evaluate(SCENARIOS[branch.name], branch.onset, branch.end, directory, replay.writer.samples,
                               ruleset, settings, timings, keep_tsdb, resume_from=resume_from)
    except BaseException as err:  # reported by the parent, which has the terminal
        _exit_child(directory, err)
    (directory / "result.pickle").write_bytes(pickle.dumps(result))
    logging.shutdown()
    os._exit(0)


def _exit_child(directory: Path, err: BaseException) -> None:
    """Store a child's error for the parent to report, and exit the child."""
    (directory / "result.pickle").write_bytes(pickle.dumps(f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
    logging.shutdown()
    os._exit(1)


def _evaluate(scenario: BacktestScenario, onset: float | None, end: float, directory: Path, samples: int,
              ruleset: RuleSet, settings: Settings, timings: dict[str, float], keep_tsdb: bool,
              resume_from: tuple[SharedHistory, float] | None = None,
              share: SharedHistory | None = None) -> ScenarioResult:
    data_dir = directory / "data"

    month = settings.month_start
    baselines: dict[str, object] = {}

    def measure_baselines(server: PrometheusServer) -> None:
        budget = f'llm_budget_spend_usd{{budget="{BUDGET_NAME}"}}'
        limit = f'llm_budget_usd{{budget="{BUDGET_NAME}"}}'
        baselines["static"] = first_time(server, f"{budget} >= {STATIC_BUDGET_SHARE} * {limit}",
                                         month, end, 60.0)
        baselines["crossed"] = first_time(server, f"{budget} >= {limit}", month, end, 60.0)
        series = server.query_range('sum(rate(llm_cost_usd_total{job="llm-cost-exporter"}[1h])) * 3600',
                                    settings.start, end, CHART_STEP_SECONDS)
        baselines["spend_rate"] = next(iter(series.values()), [])

    began = time.monotonic()
    evaluation = evaluate_rules(ruleset, directory, data_dir, settings.start, end, measure_baselines,
                                resume_from=resume_from, share=share)
    timings["rules"] = time.monotonic() - began
    timings.update({f"rules: {key}": value for key, value in evaluation.timings.items()})
    if not keep_tsdb:
        shutil.rmtree(data_dir, ignore_errors=True)
    log.info("scenario %s evaluated: %d firings in the month, warm-up excluded", scenario.name,
             len([firing for firing in evaluation.firings if firing.start >= settings.month_start]))
    return ScenarioResult(
        scenario=scenario,
        settings=settings,
        onset=onset,
        end=end,
        evaluation=evaluation,
        static_80_percent=baselines["static"],
        budget_crossed=baselines["crossed"],
        invoice=next_month_start(onset if onset is not None and onset >= month else month),
        spend_rate=baselines["spend_rate"],
        timings=timings,
        samples=samples,
    )
