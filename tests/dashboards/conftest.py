from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llm_cost_exporter.dashboards.generate import Generated, generate, load_library

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = REPO_ROOT / "dashboards"
VALUES_PATH = REPO_ROOT / "alert_rules" / "values.yaml"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
CONFIGMAP_PATH = REPO_ROOT / "deploy" / "kubernetes" / "base" / "dashboards-configmap.yaml"


@pytest.fixture(scope="session")
def generated() -> list[Generated]:
    return generate(SOURCE_DIR, VALUES_PATH)


@pytest.fixture(scope="session")
def library():
    return load_library(SOURCE_DIR)


def content_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Return every panel of a dashboard except row headers."""
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]
