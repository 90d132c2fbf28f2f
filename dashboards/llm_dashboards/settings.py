"""Selectors, windows and thresholds shared with the alert rules.

The numbers are read from the alert rules' values file (alert_rules/values.yaml) and
never repeated here, so a dashboard line and the alert it explains always use the
same window and the same threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llm_cost_exporter.config.durations import parse_duration

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VALUES_PATH = REPO_ROOT / "alert_rules" / "values.yaml"


class SettingsError(ValueError):
    """The values file is missing, unreadable or lacks a key the dashboards need."""


@dataclass(frozen=True)
class Settings:
    """Settings the dashboards read from the alert rules' values file.

    Ratios are fractions: a drop of 10 points of cache-hit ratio is 0.10 here, and an
    increase limit of 25% is 0.25. Every `*_group_by` starts with the values'
    `keep_labels`, which the alert rules keep in every aggregation as well.
    """

    selector: Mapping[str, str]
    runbook_base_url: str
    burn_long_window: str
    burn_short_window: str
    burn_baseline_window: str
    burn_factor: float
    burn_min_spend_usd_per_hour: float
    burn_group_by: tuple[str, ...]
    projection_windows: dict[str, str]  # budget period -> window of the spend rate
    cache_group_by: tuple[str, ...]
    cache_week_window: str
    cache_week_max_drop: float
    cache_fast_window: str
    cache_fast_baseline_window: str
    cache_fast_max_drop: float
    prefix_window: str
    multiplicity_window: str
    multiplicity_group_by: tuple[str, ...]
    multiplicity_min_increase_calls: float
    anomaly_window: str
    anomaly_group_by: tuple[str, ...]
    multiplicity_max_increase: float
    retry_window: str
    retry_group_by: tuple[str, ...]
    retry_max_share: float
    heavy_user_window: str
    heavy_user_quantile: str
    heavy_user_assumptions_usd: Mapping[str, float]
    heavy_user_default_assumption_usd: float
    reconciliation_max_gap: float
    reconciliation_window: str
    vendor_delay: str
    vendor_max_data_age: str
    source_max_age: str
    rejected_max_share: float
    rejected_window: str

    def seconds(self, duration: str) -> float:
        """Return a duration of the values file (such as 15m or 2d) in seconds."""
        return parse_duration(duration)

    def runbook_url(self, alert: str) -> str:
        return f"{self.runbook_base_url.rstrip('/')}/{alert}.md"


def _get(values: Mapping[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise SettingsError(f"missing key {dotted!r} in the alert rules' values file")
        node = node[part]
    return node


def _labels(values: Mapping[str, Any], dotted: str) -> tuple[str, ...]:
    labels = _get(values, dotted)
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise SettingsError(f"{dotted!r} must be a list of label names, not {labels!r}")
    return tuple(labels)


def from_values(values: Mapping[str, Any]) -> Settings:
    """Pick the dashboards' settings out of the parsed values file."""
    keep = _labels(values, "keep_labels")

    def group(dotted: str) -> tuple[str, ...]:
        return keep + tuple(label for label in _labels(values, dotted) if label not in keep)

    selector = _get(values, "selector")
    if not isinstance(selector, Mapping) or "job" not in selector:
        raise SettingsError("'selector' must be a mapping of label matchers that contains 'job'")
    burn = "alerts.LLMSpendBurnRateHigh"
    cache = "alerts.LLMCacheHitRatioDrop"
    heavy = "alerts.LLMHeavyUserCohortSpend"
    gap = "alerts.LLMCostReconciliationGap"
    assumptions = _get(values, f"{heavy}.assumptions_usd")
    if not isinstance(assumptions, Mapping):
        raise SettingsError(f"{heavy}.assumptions_usd must map cohort names to USD amounts")
    return Settings(
        selector={str(label): str(value) for label, value in selector.items()},
        runbook_base_url=str(_get(values, "runbook_base_url")),
        burn_long_window=str(_get(values, f"{burn}.long_window")),
        burn_short_window=str(_get(values, f"{burn}.short_window")),
        burn_baseline_window=str(_get(values, f"{burn}.baseline_window")),
        burn_factor=float(_get(values, f"{burn}.factor")),
        burn_min_spend_usd_per_hour=float(_get(values, f"{burn}.min_spend_usd_per_hour")),
        burn_group_by=group(f"{burn}.group_by"),
        projection_windows={str(period): str(window) for period, window in
                            _get(values, "alerts.LLMBudgetProjectedOverrun.window_by_period").items()},
        cache_group_by=group(f"{cache}.group_by"),
        cache_week_window=str(_get(values, f"{cache}.week_over_week.window")),
        cache_week_max_drop=float(_get(values, f"{cache}.week_over_week.max_drop_points")) / 100,
        cache_fast_window=str(_get(values, f"{cache}.hour_over_day.window")),
        cache_fast_baseline_window=str(_get(values, f"{cache}.hour_over_day.baseline_window")),
        cache_fast_max_drop=float(_get(values, f"{cache}.hour_over_day.max_drop_points")) / 100,
        prefix_window=str(_get(values, "alerts.LLMPromptPrefixChurn.prefix_window")),
        multiplicity_window=str(_get(values, "alerts.LLMCallMultiplicityDrift.window")),
        multiplicity_group_by=group("alerts.LLMCallMultiplicityDrift.group_by"),
        multiplicity_min_increase_calls=float(_get(values, "alerts.LLMCallMultiplicityDrift.min_increase_calls")),
        anomaly_window=str(_get(values, "alerts.LLMCostPerRequestAnomaly.window")),
        anomaly_group_by=group("alerts.LLMCostPerRequestAnomaly.group_by"),
        multiplicity_max_increase=float(_get(values, "alerts.LLMCallMultiplicityDrift.max_increase_percent")) / 100,
        retry_window=str(_get(values, "alerts.LLMRetryCostHigh.window")),
        retry_group_by=group("alerts.LLMRetryCostHigh.group_by"),
        retry_max_share=float(_get(values, "alerts.LLMRetryCostHigh.max_share")),
        heavy_user_window=str(_get(values, f"{heavy}.window")),
        heavy_user_quantile=str(_get(values, f"{heavy}.quantile")),
        heavy_user_assumptions_usd={str(cohort): float(usd) for cohort, usd in assumptions.items()},
        heavy_user_default_assumption_usd=float(_get(values, f"{heavy}.default_assumption_usd")),
        reconciliation_max_gap=float(_get(values, f"{gap}.max_gap_percent")) / 100,
        reconciliation_window=str(_get(values, f"{gap}.window")),
        vendor_delay=str(_get(values, f"{gap}.vendor_delay")),
        vendor_max_data_age=str(_get(values, f"{gap}.max_vendor_data_age")),
        source_max_age=str(_get(values, "alerts.LLMCostSourceStale.max_source_age")),
        rejected_max_share=float(_get(values, "alerts.LLMCostEventsRejected.max_share")),
        rejected_window=str(_get(values, "alerts.LLMCostEventsRejected.window")),
    )


def load(path: Path | str | None = None) -> Settings:
    """Read the values file (by default the one in alert_rules/) and return the settings."""
    values_path = Path(path) if path is not None else DEFAULT_VALUES_PATH
    try:
        values = yaml.safe_load(values_path.read_text())
    except OSError as err:
        raise SettingsError(f"cannot read the alert rules' values file {values_path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise SettingsError(f"invalid YAML in {values_path}: {err}") from None
    if not isinstance(values, Mapping):
        raise SettingsError(f"{values_path} must contain a mapping at the top level")
    try:
        return from_values(values)
    except SettingsError as err:
        raise SettingsError(f"{values_path}: {err}") from None
