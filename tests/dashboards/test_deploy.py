"""The Grafana provisioning files under deploy/ agree with the generator and the ConfigMap."""

from __future__ import annotations

import yaml

from llm_cost_exporter.commands.dashboards import DEFAULT_FOLDER, DEFAULT_FOLDER_UID

from .conftest import CONFIGMAP_PATH, REPO_ROOT

GRAFANA = REPO_ROOT / "deploy" / "grafana"


def test_file_provider_uses_push_folder():
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "llm-cost.yaml").read_text())
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    assert entry["folder"] == DEFAULT_FOLDER
    assert entry["folderUid"] == DEFAULT_FOLDER_UID
    assert entry["allowUiUpdates"] is False


def test_datasource_is_default_prometheus():
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus"
    assert source["isDefault"] is True


def test_sidecar_values_select_configmap():
    values = yaml.safe_load((GRAFANA / "helm-values-sidecar.yaml").read_text())["sidecar"]["dashboards"]
    configmap = yaml.safe_load(CONFIGMAP_PATH.read_text())["metadata"]
    assert configmap["labels"][values["label"]] == values["labelValue"]
    assert configmap["annotations"][values["folderAnnotation"]] == DEFAULT_FOLDER
    assert values["provider"]["foldersFromFilesStructure"] is True
