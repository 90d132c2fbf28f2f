"""Loading the rendered overlays, and walking their objects."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"


class ManifestLoader(yaml.SafeLoader):
    """A safe loader that reads kustomize's bare `=` (a YAML 1.1 `value` tag) as the string '='."""


ManifestLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def load_render_module():
    spec = importlib.util.spec_from_file_location("render", KUBERNETES / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_objects(overlay: str) -> list[dict[str, Any]]:
    text = (KUBERNETES / "rendered" / f"{overlay}.yaml").read_text()
    return [document for document in yaml.load_all(text, Loader=ManifestLoader) if document]


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def load_crd_schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema of a Prometheus Operator object (see crd_schemas/README.md)."""
    return json.loads((Path(__file__).parent / "crd_schemas" / f"{name}.json").read_text())
