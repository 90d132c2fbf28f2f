"""The generated JSON of each dashboard against its committed snapshot.

After an intended change, regenerate the snapshots and the ConfigMap, and review
the diff before committing:

    llm-cost-exporter dashboards --output tests/dashboards/golden
"""

from __future__ import annotations

import difflib

import pytest

from llm_cost_exporter.dashboards.generate import generate, render_configmap, render_json

from .conftest import CONFIGMAP_PATH, GOLDEN_DIR, SOURCE_DIR, VALUES_PATH

REGENERATE = "llm-cost-exporter dashboards --output tests/dashboards/golden"


def diff(expected: str, actual: str, name: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True), actual.splitlines(keepends=True), f"committed {name}", f"generated {name}"
    )
    return "".join(lines)


def test_snapshot_per_dashboard(generated):
    committed = {path.name for path in GOLDEN_DIR.glob("*.json")}
    assert committed == {item.filename for item in generated}, f"regenerate with: {REGENERATE}"


@pytest.mark.parametrize("name", sorted(path.name for path in GOLDEN_DIR.glob("*.json")))
def test_dashboard_matches_snapshot(generated, name):
    item = next((item for item in generated if item.filename == name), None)
    assert item is not None, f"{name} is no longer generated; delete it and run: {REGENERATE}"
    expected = (GOLDEN_DIR / name).read_text()
    actual = render_json(item.data)
    assert actual == expected, f"{name} changed; review and run: {REGENERATE}\n{diff(expected, actual, name)}"


def test_generation_is_deterministic(generated):
    again = generate(SOURCE_DIR, VALUES_PATH)
    assert [render_json(item.data) for item in again] == [render_json(item.data) for item in generated]


def test_json_keys_sorted(generated):
    text = render_json(generated[0].data)
    assert '"__inputs"' in text.splitlines()[1]


def test_configmap_matches_generated(generated):
    expected = CONFIGMAP_PATH.read_text()
    actual = render_configmap(generated, "LLM cost")
    assert actual == expected, f"the ConfigMap is stale; run `make dashboards-json`\n{diff(expected, actual, 'ConfigMap')}"
