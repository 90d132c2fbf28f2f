"""Exposition encoders that cache each label set's rendered text between scrapes.

prometheus_client validates and escapes every label name and value of every sample on
every scrape, about 25 us per series with 8 labels, so 100,000 series take seconds. The
label sets of an exporter change rarely, so this encoder renders each one once and
reuses the text. Its output is byte-for-byte that of prometheus_client's encoders, which
it still uses for the format negotiation, the HELP and TYPE lines, and any family it does
not handle (exemplars, native histograms, metric names outside the legacy character set).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable

from prometheus_client.exposition import choose_encoder
from prometheus_client.exposition import generate_latest as generate_text
from prometheus_client.openmetrics import exposition as openmetrics_exposition
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

LEGACY_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
MAX_CACHED_LABEL_SETS = 1_000_000
_FAST_ESCAPINGS = frozenset({openmetrics_exposition.UNDERSCORES, openmetrics_exposition.ALLOWUTF8})


class _Only:
    """A registry of one family, for prometheus_client's encoders."""

    def __init__(self, metric) -> None:
        self._metric = metric

    def collect(self):
        return [self._metric]


class CachingEncoder:
    """Renders a registry in the Prometheus text format or OpenMetrics, choosing by the Accept header."""

    def __init__(self, max_cached: int = MAX_CACHED_LABEL_SETS) -> None:
        self._labels: dict[tuple, str] = {}
        self._max_cached = max_cached
        self._lock = threading.Lock()  # scrapes may overlap; the cache is shared

    def encode(self, registry: Collector, accept_header: str) -> tuple[bytes, str]:
        """Return the exposition body and its content type."""
        library_encoder, content_type = choose_encoder(accept_header)
        # choose_encoder returns either an encoder function or a functools.partial of one.
        escaping = getattr(library_encoder, "keywords", {}).get("escaping", openmetrics_exposition.UNDERSCORES)
        if escaping not in _FAST_ESCAPINGS:
            return library_encoder(registry), content_type
        if getattr(library_encoder, "func", library_encoder) is openmetrics_exposition.generate_latest:
            return self.openmetrics(registry), content_type
        return self.text(registry), content_type

    def text(self, registry: Collector) -> bytes:
        output: list[str] = []
        for metric in registry.collect():
            if not self._can_render(metric):
                output.append(generate_text(_Only(metric)).decode())
                continue
            name, kind = _text_name_and_type(metric)
            documentation = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
            output.append(f"# HELP {name} {documentation}\n# TYPE {name} {kind}\n")
            special: dict[str, list[Sample]] = {}
            plain = []
            for sample in metric.samples:
                suffix = _openmetrics_suffix(metric.name, sample.name)
                if suffix:
                    special.setdefault(suffix, []).append(sample)
                else:
                    plain.append(sample)
            self._render_samples(plain, output, text_timestamps=True)
            for suffix, samples in sorted(special.items()):
                output.append(f"# HELP {metric.name}{suffix} {documentation}\n# TYPE {metric.name}{suffix} gauge\n")
                self._render_samples(samples, output, text_timestamps=True)
        return "".join(output).encode()

    def openmetrics(self, registry: Collector) -> bytes:
        output: list[str] = []
        for metric in registry.collect():
            if not self._can_render(metric):
                output.append(openmetrics_exposition.generate_latest(_Only(metric)).decode().removesuffix("# EOF\n"))
                continue
            documentation = openmetrics_exposition._escape(metric.documentation, openmetrics_exposition.ALLOWUTF8,
                                                           openmetrics_exposition._is_legacy_labelname_rune)
            output.append(f"# HELP {metric.name} {documentation}\n# TYPE {metric.name} {metric.type}\n")
            if metric.unit:
                output.append(f"# UNIT {metric.name} {metric.unit}\n")
            self._render_samples(metric.samples, output, text_timestamps=False)
        output.append("# EOF\n")
        return "".join(output).encode()

    def _render_samples(self, samples: Iterable[Sample], output: list[str], text_timestamps: bool) -> None:
        labels_text = self._labels_text
        append = output.append
        for sample in samples:
            labels = f"{{{labels_text(sample.labels)}}}" if sample.labels else ""
            if sample.timestamp is None:
                append(f"{sample.name}{labels} {floatToGoString(sample.value)}\n")
            elif text_timestamps:  # the text format wants milliseconds
                append(f"{sample.name}{labels} {floatToGoString(sample.value)} {int(float(sample.timestamp) * 1000):d}\n")
            else:
                append(f"{sample.name}{labels} {floatToGoString(sample.value)} {sample.timestamp}\n")

    def _labels_text(self, labels: dict[str, str]) -> str:
        key = tuple(labels.items())
        text = self._labels.get(key)
        if text is None:
            text = ",".join(f'{name}="{_escape_value(value)}"' for name, value in sorted(labels.items()))
            with self._lock:
                if len(self._labels) >= self._max_cached:
                    self._labels.clear()
                self._labels[key] = text
        return text

    @staticmethod
    def _can_render(metric) -> bool:
        if not LEGACY_NAME.match(metric.name):
            return False
        for sample in metric.samples:
            if sample.exemplar is not None or sample.native_histogram is not None:
                return False
            if not LEGACY_NAME.match(sample.name) or not all(LEGACY_NAME.match(name) for name in sample.labels):
                return False
        return True


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _text_name_and_type(metric) -> tuple[str, str]:
    """Return the family name and type as the Prometheus text format spells them."""
    renames: dict[str, Callable[[str], tuple[str, str]]] = {
        "counter": lambda name: (name + "_total", "counter"),
        "info": lambda name: (name + "_info", "gauge"),
        "stateset": lambda name: (name, "gauge"),
        "gaugehistogram": lambda name: (name, "histogram"),
        "unknown": lambda name: (name, "untyped"),
    }
    rename = renames.get(metric.type)
    return rename(metric.name) if rename else (metric.name, metric.type)


def _openmetrics_suffix(family: str, sample: str) -> str:
    for suffix in ("_created", "_gsum", "_gcount"):
        if sample == family + suffix:
            return suffix
    return ""
