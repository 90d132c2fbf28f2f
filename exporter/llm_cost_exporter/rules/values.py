"""Load and check alert_rules/values.yaml, the numbers every alert rule is built from."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

SEVERITIES = ("page", "ticket")

# Prometheus duration units, in seconds.
_UNIT_SECONDS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_DURATION = re.compile(r"^(?:\d+(?:y|w|d|h|ms|m|s))+$")
_DURATION_PART = re.compile(r"(\d+)(y|w|d|h|ms|m|s)")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

# Windows of the exporter's rolling-window gauges (llm_user_spend_usd, llm_prompt_prefixes).
GAUGE_WINDOWS = ("1h", "24h", "7d")
USER_SPEND_QUANTILES = ("0.5", "0.9", "0.95", "0.99", "1")
# Budget periods of the exporter and their shortest length (February for a month).
BUDGET_PERIOD_SECONDS = {"day": 86400, "week": 7 * 86400, "month": 28 * 86400}


# Mappings whose keys are data (label names, cohorts), so an override may add keys.
_OPEN_MAPPINGS = frozenset({"selector", "alerts.LLMHeavyUserCohortSpend.assumptions_usd"})


class ValuesError(ValueError):
    """Raised when values.yaml contains a missing, unknown or meaningless value."""


def parse_duration(text: str) -> float:
    """Return the length of a Prometheus duration such as `15m` or `1h30m` in seconds."""
    if not isinstance(text, str) or not _DURATION.match(text):
        raise ValueError(f"invalid duration {text!r}: expected Prometheus notation such as 15m, 1h or 7d")
    return sum(int(count) * _UNIT_SECONDS[unit] for count, unit in _DURATION_PART.findall(text))


def load_values(path: Path) -> dict[str, Any]:
    """Read a values file. Checking is left to `check_values`, so all problems are reported at once."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValuesError(f"failed to read values file {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ValuesError(f"invalid YAML in values file {path}: {err}") from err
    if not isinstance(data, dict):
        raise ValuesError(f"invalid values file {path}: expected a mapping at the top level")
    return data


def apply_overrides(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `values` with `overrides` merged in, mapping by mapping.

    An override may only replace a key that exists in `values`, so a misspelled key
    fails instead of being ignored. The selector and the cohort assumptions also take
    new keys. Lists and scalars replace the old value whole.
    """
    merged = copy.deepcopy(values)
    _merge(merged, overrides, "")
    return merged


def _merge(target: dict[str, Any], overrides: dict[str, Any], prefix: str) -> None:
    for key, value in overrides.items():
        path = f"{prefix}{key}"
        if key not in target and prefix.rstrip(".") not in _OPEN_MAPPINGS:
            known = ", ".join(sorted(str(k) for k in target))
            raise ValuesError(f"unknown value {path}: expected one of {known}")
        if isinstance(value, dict) and isinstance(target.get(key), dict) and value:
            _merge(target[key], value, f"{path}.")
        else:
            target[key] = copy.deepcopy(value)


class _Checker:
    """Read values by dotted path and collect every problem into one list."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.errors: list[str] = []

    def get(self, path: str) -> Any:
        node: Any = self.values
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                self.errors.append(f"{path}: missing")
                return None
            node = node[part]
        return node

    def duration(self, path: str, allow_zero: bool = False) -> float | None:
        text = self.get(path)
        if text is None:
            return None
        try:
            seconds = parse_duration(str(text)) if text != 0 else 0.0
        except ValueError as err:
            self.errors.append(f"{path}: {err}")
            return None
        if seconds == 0 and not allow_zero:
            self.errors.append(f"{path}: must be longer than 0, got {text}")
            return None
        return seconds

    def number(self, path: str, minimum: float | None = None, exclusive: bool = False,
               maximum: float | None = None) -> float | None:
        value = self.get(path)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.errors.append(f"{path}: expected a number, got {value!r}")
            return None
        if minimum is not None and (value <= minimum if exclusive else value < minimum):
            relation = "greater than" if exclusive else "at least"
            self.errors.append(f"{path}: must be {relation} {minimum:g}, got {value:g}")
        if maximum is not None and value > maximum:
            self.errors.append(f"{path}: must be at most {maximum:g}, got {value:g}")
        return float(value)

    def severity(self, path: str) -> None:
        value = self.get(path)
        if value is not None and value not in SEVERITIES:
            self.errors.append(f"{path}: must be one of {', '.join(SEVERITIES)}, got {value!r}")

    def labels(self, path: str, allow_empty: bool = False) -> None:
        value = self.get(path)
        if value is None:
            return
        if not isinstance(value, list) or (not value and not allow_empty):
            self.errors.append(f"{path}: expected a list of label names, got {value!r}")
            return
        for name in value:
            if not isinstance(name, str) or not _LABEL_NAME.match(name):
                self.errors.append(f"{path}: invalid label name {name!r}")

    def choice(self, path: str, choices: tuple[str, ...]) -> None:
        value = self.get(path)
        if value is not None and str(value) not in choices:
            self.errors.append(f"{path}: must be one of {', '.join(choices)}, got {value!r}")

    def shorter(self, short_path: str, short: float | None, long_path: str, long: float | None) -> None:
        """Require short < long. A `long_path` with a space is a fixed limit described in words."""
        if short is None or long is None or short < long:
            return
        limit = long_path if " " in long_path else f"{long_path} ({self.get(long_path)})"
        self.errors.append(f"{short_path} ({self.get(short_path)}) must be shorter than {limit}")


def check_values(values: dict[str, Any], source: str = "values") -> None:
    """Raise ValuesError listing every value that is missing or makes no sense."""
    checker = _Checker(values)

    selector = checker.get("selector")
    if selector is not None:
        if not isinstance(selector, dict):
            checker.errors.append(f"selector: expected a mapping of label name to value, got {selector!r}")
        else:
            for name, value in selector.items():
                if not _LABEL_NAME.match(str(name)) or not isinstance(value, str):
                    checker.errors.append(f"selector: invalid matcher {name!r}: {value!r}")
    checker.labels("keep_labels", allow_empty=True)
    url = checker.get("runbook_base_url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        checker.errors.append(f"runbook_base_url: expected an http or https URL, got {url!r}")
    interval = checker.duration("interval")
    baseline_interval = checker.duration("baseline_interval")
    # Alerts read baselines as instant vectors, found only within the 5m lookback.
    checker.shorter("baseline_interval", baseline_interval, "the 5m lookback of instant queries", 300)
    checker.shorter("interval", interval, "the 5m lookback of instant queries", 300)

    alert = "alerts.LLMBudgetProjectedOverrun"
    checker.severity(f"{alert}.severity")
    checker.duration(f"{alert}.for", allow_zero=True)
    checker.duration(f"{alert}.keep_firing_for", allow_zero=True)
    windows = checker.get(f"{alert}.window_by_period")
    if windows is not None:
        if not isinstance(windows, dict) or not windows:
            checker.errors.append(f"{alert}.window_by_period: expected a mapping of budget period to window")
        else:
            for period in windows:
                if period not in BUDGET_PERIOD_SECONDS:
                    checker.errors.append(f"{alert}.window_by_period: unknown period {period!r}, "
                                          f"expected {', '.join(BUDGET_PERIOD_SECONDS)}")
                    continue
                window = checker.duration(f"{alert}.window_by_period.{period}")
                checker.shorter(f"{alert}.window_by_period.{period}", window,
                                f"the shortest {period}", BUDGET_PERIOD_SECONDS[period])
    checker.number(f"{alert}.min_spend_fraction", minimum=0, maximum=1)

    alert = "alerts.LLMBudgetExhausted"
    checker.severity(f"{alert}.severity")
    checker.duration(f"{alert}.for", allow_zero=True)

    alert = "alerts.LLMSpendBurnRateHigh"
    checker.severity(f"{alert}.severity")
    checker.duration(f"{alert}.for", allow_zero=True)
    checker.duration(f"{alert}.keep_firing_for", allow_zero=True)
    checker.labels(f"{alert}.group_by")
    short = checker.duration(f"{alert}.short_window")
    long = checker.duration(f"{alert}.long_window")
    baseline = checker.duration(f"{alert}.baseline_window")
    checker.shorter(f"{alert}.short_window", short, f"{alert}.long_window", long)
    checker.shorter(f"{alert}.long_window", long, f"{alert}.baseline_window", baseline)
    checker.number(f"{alert}.factor", minimum=1, exclusive=True)
    checker.number(f"{alert}.min_spend_usd_per_hour", minimum=0)
    checker.number(f"{alert}.seasonal_guard.factor", minimum=0, exclusive=True)
    guard_window = checker.duration(f"{alert}.seasonal_guard.window")
    # The window is centred on the same time a week earlier and must end before now.
    checker.shorter(f"{alert}.seasonal_guard.window", guard_window, "two weeks", 14 * 86400)
    if not isinstance(checker.get(f"{alert}.breaker"), bool):
        checker.errors.append(f"{alert}.breaker: expected true or false")

    alert = "alerts.LLMCacheHitRatioDrop"
    checker.severity(f"{alert}.severity")
    checker.labels(f"{alert}.group_by")
    checker.number(f"{alert}.min_prompt_tokens_per_hour", minimum=0)
    wow = checker.duration(f"{alert}.week_over_week.window")
    checker.shorter(f"{alert}.week_over_week.window", wow, "one week", 7 * 86400)
    checker.number(f"{alert}.week_over_week.max_drop_points", minimum=0, exclusive=True, maximum=100)
    checker.duration(f"{alert}.week_over_week.for", allow_zero=True)
    fast = checker.duration(f"{alert}.hour_over_day.window")
    fast_base = checker.duration(f"{alert}.hour_over_day.baseline_window")
    checker.shorter(f"{alert}.hour_over_day.window", fast, f"{alert}.hour_over_day.baseline_window", fast_base)
    checker.number(f"{alert}.hour_over_day.max_drop_points", minimum=0, exclusive=True, maximum=100)
    checker.duration(f"{alert}.hour_over_day.for", allow_zero=True)

    alert = "alerts.LLMPromptPrefixChurn"
    checker.severity(f"{alert}.severity")
    checker.duration(f"{alert}.for", allow_zero=True)
    checker.labels(f"{alert}.group_by")
    checker.choice(f"{alert}.prefix_window", GAUGE_WINDOWS)
    prefix_window = checker.get(f"{alert}.prefix_window")
    prefix_seconds = parse_duration(prefix_window) if prefix_window in GAUGE_WINDOWS else None
    baseline = checker.duration(f"{alert}.baseline_window")
    checker.shorter(f"{alert}.prefix_window", prefix_seconds, f"{alert}.baseline_window", baseline)
    checker.number(f"{alert}.factor", minimum=1, exclusive=True)
    checker.number(f"{alert}.min_prefixes", minimum=0)

    alert = "alerts.LLMCostPerRequestAnomaly"
    checker.severity(f"{alert}.severity")
    checker.duration(f"{alert}.for", allow_zero=True)
    checker.labels(f"{alert}.group_by")
    window = checker.duration(f"{alert}.window")
    baseline = checker.duration(f"{alert}.baseline_window")
    checker.shorter(f"{alert}.window", window, f"{alert}.baseline_window", baseline)
    checker.number(f"{alert}.k", minimum=0, exclusive=True)
    checker.number(f"{alert}.min_stddev_fraction", minimum=0)
    checker.number(f"{alert}.min_requests_per_hour", minimum=0)
    history = checker.duration(f"{alert}.min_history")
    checker.shorter(f"{alert}.min_history", history, f"{alert}.baseline_window", baseline)
    checker.labels(f"{alert}.mix_band.group_by", allow_empty=True)
    if checker.get(f"{alert}.mix_band.group_by") == checker.get(f"{alert}.group_by"):
        checker.errors.append(f"{alert}.mix_band.group_by: must differ from {alert}.group_by, "
                              "or be [] to turn the mix band off")
    mix_window = checker.duration(f"{alert}.mix_band.window")
    checker.shorter(f"{alert}.mix_band.window", mix_window, f"{alert}.baseline_window", baseline)
    checker.duration(f"{alert}.mix_band.for", allow_zero=True)
    checker.number(f"{alert}.mix_band.min_requests_per_hour", minimum=0)

    alert = "alerts.LLMCallMultiplicityDrift"
    checker.severity(f"{alert}.severity")
    checker.duration(f"{alert}.for", allow_zero=True)
    checker.labels(f"{alert}.group_by")
    window = checker.duration(f"{alert}.window")
    checker.shorter(f"{alert}.window", window, "one week", 7 * 86400)
    checker.number(f"{alert}.max_increase_percent", minimum=0, exclusive=True)
    checker.number(f"{alert}.min_increase_calls", minimum=0)
    checker.number(f"{alert}.min_requests_per_hour", minimum=0)

    alert = "alerts.LLMRetryCostHigh"
    checker.severity(f"{alert}.severity")
    checker.duration(f"{alert}.for", allow_zero=True)
    checker.labels(f"{alert}.group_by")
    if "feature" not in (checker.get(f"{alert}.group_by") or ["feature"]):
        checker.errors.append(f"{alert}.group_by: must contain feature, the label that joins retry cost to spend")
    checker.duration(f"{alert}.window")
    checker.number(f"{alert}.max_share", minimum=0, exclusive=True, maximum=1)
    checker.number(f"{alert}.min_retry_cost_usd_per_hour", minimum=0)

    alert = "alerts.LLMHeavyUserCohortSpend"
    checker.severity(f"{alert}.severity")
    checker.duration(f"{alert}.for", allow_zero=True)
    checker.choice(f"{alert}.window", GAUGE_WINDOWS)
    checker.choice(f"{alert}.quantile", USER_SPEND_QUANTILES)
    assumptions = checker.get(f"{alert}.assumptions_usd")
    if assumptions is not None:
        if not isinstance(assumptions, dict):
            checker.errors.append(f"{alert}.assumptions_usd: expected a mapping of cohort to USD")
        else:
            for cohort in assumptions:
                checker.number(f"{alert}.assumptions_usd.{cohort}", minimum=0)
    checker.number(f"{alert}.default_assumption_usd", minimum=0)
    checker.number(f"{alert}.min_active_users", minimum=0)

    alert = "alerts.LLMCostReconciliationGap"
    checker.severity(f"{alert}.severity")
    checker.duration(f"{alert}.for", allow_zero=True)
    checker.labels(f"{alert}.group_by")
    checker.duration(f"{alert}.interval")
    checker.duration(f"{alert}.window")
    delay = checker.duration(f"{alert}.vendor_delay", allow_zero=True)
    max_age = checker.duration(f"{alert}.max_vendor_data_age")
    if delay is not None and max_age is not None and max_age < delay:
        checker.errors.append(
            f"{alert}.max_vendor_data_age ({checker.get(f'{alert}.max_vendor_data_age')}) must be at least "
            f"{alert}.vendor_delay ({checker.get(f'{alert}.vendor_delay')})"
        )
    checker.number(f"{alert}.max_gap_percent", minimum=0, exclusive=True)
    checker.number(f"{alert}.min_vendor_cost_usd", minimum=0)

    alert = "alerts.LLMCostExporterDown"
    checker.severity(f"{alert}.instance_severity")
    checker.severity(f"{alert}.job_severity")
    checker.duration(f"{alert}.for", allow_zero=True)

    alert = "alerts.LLMCostSourceStale"
    checker.severity(f"{alert}.severity")
    checker.duration(f"{alert}.for", allow_zero=True)
    checker.duration(f"{alert}.max_source_age")
    checker.duration(f"{alert}.max_vendor_data_age")

    alert = "alerts.LLMCostEventsRejected"
    checker.severity(f"{alert}.severity")
    checker.duration(f"{alert}.for", allow_zero=True)
    checker.duration(f"{alert}.window")
    checker.number(f"{alert}.max_share", minimum=0, exclusive=True, maximum=1)
    checker.number(f"{alert}.min_rejected_per_minute", minimum=0)

    for alert in ("alerts.LLMCostLabelOverflow", "alerts.LLMCostUnpricedTokens"):
        checker.severity(f"{alert}.severity")
        checker.duration(f"{alert}.for", allow_zero=True)
        checker.duration(f"{alert}.window")

    if checker.errors:
        listing = "\n".join(f"  - {error}" for error in checker.errors)
        raise ValuesError(f"invalid values in {source}:\n{listing}")
