"""Label limits: past a label's distinct-value limit, new values become `__overflow__`."""

from __future__ import annotations

import logging

OVERFLOW = "__overflow__"

log = logging.getLogger(__name__)


class LabelLimiter:
    """Admit at most `limit(label)` distinct non-empty values per label, first come first served.

    Admitted values stay admitted, so the mapping from a raw value to its label value never
    changes and callers may cache it. Every value mapped to OVERFLOW is counted in `overflows`.
    """

    def __init__(self, limits: dict[str, int], default_limit: int) -> None:
        self._limits = dict(limits)
        self._default = default_limit
        self.admitted: dict[str, set[str]] = {}
        self.overflows: dict[str, float] = {}
        self._warned: set[str] = set()

    def limit(self, label: str, value: str) -> str:
        if not value:
            return value
        admitted = self.admitted.setdefault(label, set())
        if value in admitted:
            return value
        limit = self._limits.get(label, self._default)
        if len(admitted) < limit:
            admitted.add(value)
            return value
        if label not in self._warned:
            self._warned.add(label)
            log.warning("label %s reached its limit of %d distinct values; new values such as %.60r are "
                        "counted as %s (a request or user id in this field?); raise labels.limits.%s if "
                        "the values are legitimate", label, limit, value, OVERFLOW, label)
        return OVERFLOW

    def count_overflow(self, label: str) -> None:
        self.overflows[label] = self.overflows.get(label, 0.0) + 1.0

    def export_state(self) -> dict:
        return {"admitted": {label: sorted(values) for label, values in self.admitted.items()},
                "overflows": self.overflows}

    def restore(self, state: dict) -> None:
        self.admitted = {label: set(values) for label, values in state.get("admitted", {}).items()}
        self.overflows = dict(state.get("overflows", {}))
