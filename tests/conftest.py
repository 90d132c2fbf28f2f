from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS = REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The public production traces beside the repository; tests that need them skip without them."""
    if not DATASETS.is_dir():
        pytest.skip(f"public traces not found at {DATASETS}: place the shared folder beside the repository")
    return DATASETS
