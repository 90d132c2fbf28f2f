"""Read samples out of a Prometheus text exposition."""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(sample.name, sample.labels, sample.value)
            for family in text_string_to_metric_families(text) for sample in family.samples]


def total(text: str, name: str, **match: str) -> float:
    """Sum of every sample named `name` whose labels include `match`."""
    return sum(value for sample_name, labels, value in samples(text)
               if sample_name == name and all(labels.get(key) == wanted for key, wanted in match.items()))


def totals_by(text: str, name: str, label: str) -> dict[str, float]:
    result: dict[str, float] = defaultdict(float)
    for sample_name, labels, value in samples(text):
        if sample_name == name:
            result[labels[label]] += value
    return dict(result)
