"""A workload profile as a function of event time.

A baseline timeline returns the same profile at every instant. A scenario timeline
returns the baseline before its onset and, after it, `change(baseline, elapsed)`, where
`elapsed` is the time since onset in seconds rounded down to a whole step. Scenarios
are therefore small functions from a profile to a profile.
"""

from __future__ import annotations

from typing import Callable

from .compiled import CompiledProfile
from .profile import Profile

ProfileChange = Callable[[Profile, float], Profile]


class Timeline:
    def __init__(
        self,
        baseline: Profile,
        change: ProfileChange | None = None,
        onset: float | None = None,
        step_seconds: float = 3600.0,
    ):
        if change is not None and onset is None:
            raise ValueError("a timeline with a change needs an onset time")
        if step_seconds <= 0:
            raise ValueError(f"step_seconds must be positive, got {step_seconds}")
        self.baseline = baseline
        self.change = change
        self.onset = onset
        self.step_seconds = step_seconds
        self._baseline_compiled = CompiledProfile(baseline)
        # Only the latest step is kept, because callers query in non-decreasing event time.
        self._step = -1
        self._step_compiled = self._baseline_compiled

    def profile_at(self, ts: float) -> CompiledProfile:
        if self.change is None or ts < self.onset:
            return self._baseline_compiled
        step = int((ts - self.onset) // self.step_seconds)
        if step != self._step:
            elapsed = step * self.step_seconds
            self._step_compiled = CompiledProfile(self.change(self.baseline, elapsed))
            self._step = step
        return self._step_compiled
