"""Rule files as data: groups, rules, the metric names they read and their evaluation levels."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml


# A PromQL metric name; label names and function names match too, which is harmless
# because only names that are also recorded or exposed are used.
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# Quoted strings hold label values and template text, never metric names.
_WINDOW_MATCHER = re.compile(r'window="([0-9a-z]+)"')
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')


@dataclass(frozen=True)
class Rule:
    group: str
    interval: float
    index: int  # position in the whole file, groups in order
    expr: str
    record: str | None = None
    alert: str | None = None
    for_seconds: float = 0.0
    keep_firing_for_seconds: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.record or self.alert or ""

    def names_read(self) -> set[str]:
        return set(_NAME.findall(_QUOTED.sub("", self.expr)))


@dataclass(frozen=True)
class RuleSet:
    rules: list[Rule]
    default_interval: float

    @property
    def recording(self) -> list[Rule]:
        return [rule for rule in self.rules if rule.record]

    @property
    def alerting(self) -> list[Rule]:
        return [rule for rule in self.rules if rule.alert]

    def recorded_names(self) -> set[str]:
        return {rule.record for rule in self.recording}

    def raw_names(self) -> set[str]:
        """Names read by some rule that no rule records: what the exporter must provide."""
        read = set().union(*(rule.names_read() for rule in self.rules)) if self.rules else set()
        return read - self.recorded_names()

    def windows_read(self) -> set[float]:
        """Rolling windows (in seconds) that some rule selects with a `window` label matcher."""
        return {parse_prometheus_duration(value) for rule in self.rules for value in _WINDOW_MATCHER.findall(rule.expr)}

    def levels(self) -> list[list[Rule]]:
        """Group the recording rules into levels: a rule reads only raw series and lower levels.

        Raises ValueError on a cycle, which Prometheus would evaluate with one-interval-old
        data and a backfill cannot reproduce.
        """
        recorded = self.recorded_names()
        writers: dict[str, list[Rule]] = {}
        for rule in self.recording:
            writers.setdefault(rule.record, []).append(rule)
        name_level: dict[str, int] = {}
        visiting: set[str] = set()

        def level_of_name(name: str) -> int:
            if name in name_level:
                return name_level[name]
            if name in visiting:
                raise ValueError(f"recording rules read each other in a cycle through {name}")
            visiting.add(name)
            # A name recorded by several rules (one per label set) is complete once all have run.
            name_level[name] = max(rule_level(rule) for rule in writers[name])
            visiting.discard(name)
            return name_level[name]

        def rule_level(rule: Rule) -> int:
            return 1 + max((level_of_name(name) for name in rule.names_read() & recorded), default=0)

        levels: dict[int, list[Rule]] = {}
        for rule in self.recording:
            levels.setdefault(rule_level(rule), []).append(rule)
        return [levels[level] for level in sorted(levels)]


def load_rules(path: str | Path, default_interval: float = 60.0) -> RuleSet:
    """Read a Prometheus rule file."""
    document = yaml.safe_load(Path(path).read_text()) or {}
    return parse_rules(document, default_interval)


def parse_rules(document: dict, default_interval: float = 60.0) -> RuleSet:
    rules: list[Rule] = []
    for group in document.get("groups", []):
        interval = _seconds(group.get("interval"), default_interval)
        for entry in group.get("rules", []):
            rules.append(Rule(
                group=group["name"],
                interval=interval,
                index=len(rules),
                expr=str(entry["expr"]),
                record=entry.get("record"),
                alert=entry.get("alert"),
                for_seconds=_seconds(entry.get("for"), 0.0),
                keep_firing_for_seconds=_seconds(entry.get("keep_firing_for"), 0.0),
                labels={str(k): str(v) for k, v in (entry.get("labels") or {}).items()},
            ))
    return RuleSet(rules, default_interval)


_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_prometheus_duration(text: str) -> float:
    """Parse a Prometheus duration such as `1h30m`, `1w` or `0s` into seconds."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"invalid duration {text!r}: expected Prometheus notation such as 90s, 15m, 1h or 1w")
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _seconds(value, default: float) -> float:
    if value is None:
        return default
    return parse_prometheus_duration(str(value))
