"""The aggregator's full state as JSON-ready data, for checkpoints, and its restoration."""

from __future__ import annotations

import time
from typing import Any

from .aggregator import Aggregator

STATE_VERSION = 1

_TABLES = ("model_series", "retries", "retry_cost", "tool_calls", "request_cost", "request_model_calls",
           "request_tool_calls", "unpriced_tokens", "events", "rejected")


def export_windows(aggregator: Aggregator) -> dict[str, Any]:
    """Return the state of the rolling user windows and prompt prefixes (large, and only gauges)."""
    aggregator.flush_pending()
    return {"windows": [[seconds, window.export_state()] for seconds, window in aggregator.windows.items()],
            "prefixes": aggregator.prefixes.export_state()}


def export_state(aggregator: Aggregator, include_windows: bool = True) -> dict[str, Any]:
    """Return the aggregator's state, leaving out what export_windows returns unless `include_windows`."""
    aggregator.flush_pending()
    state: dict[str, Any] = {"version": STATE_VERSION, "attribution": list(aggregator.attribution)}
    for name in _TABLES:
        state[name] = [[*key, value] for key, value in getattr(aggregator, name).items()]
    state["late_retries"] = aggregator.late_retries
    state["clock"] = None if aggregator.clock == float("-inf") else aggregator.clock
    state["limiter"] = aggregator.limiter.export_state()
    state["requests"] = aggregator.requests.export_state()
    if include_windows:
        state.update(export_windows(aggregator))
    state["budgets"] = {budget.config.name: budget.export_state() for budget in aggregator.budgets}
    state["failures"] = [[call_id, *failure] for call_id, failure in aggregator.failures.items()]
    return state


def restore_state(aggregator: Aggregator, state: dict[str, Any]) -> list[str]:
    """Load a checkpoint into a fresh aggregator and return warnings about what could not be kept."""
    warnings = []
    if state.get("version") != STATE_VERSION:
        return [f"state version {state.get('version')} is not {STATE_VERSION}; starting from zero"]
    if tuple(state.get("attribution", ())) != aggregator.attribution:
        # Series keys embed the attribution values by position, so other labels cannot be mapped.
        return ["labels.attribution changed since the checkpoint; counters start from zero "
                "(Prometheus sees a counter reset)"]

    for name in _TABLES:
        table = getattr(aggregator, name)
        for *key, value in state.get(name, []):
            table[tuple(key)] = value
    aggregator.late_retries = state.get("late_retries", 0.0)
    clock = state.get("clock")
    aggregator.clock = float("-inf") if clock is None else clock
    aggregator.limiter.restore(state.get("limiter", {}))
    aggregator.requests.restore(state.get("requests", {}), time.monotonic())

    saved_windows = {seconds: window for seconds, window in state.get("windows", [])}
    for seconds, window in aggregator.windows.items():
        if seconds in saved_windows:
            window.restore(saved_windows[seconds])
    aggregator.prefixes.restore(state.get("prefixes", {}))
    saved_budgets = state.get("budgets", {})
    for budget in aggregator.budgets:
        if budget.config.name in saved_budgets:
            budget.restore(saved_budgets[budget.config.name])
    for call_id, *failure in state.get("failures", []):
        aggregator.failures[call_id] = tuple(failure)
    aggregator.forget_resolutions()
    return warnings
