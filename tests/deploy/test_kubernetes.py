"""The kustomize overlays: fresh golden renders, schema-valid objects, hardened pods, consistent references."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from llm_cost_exporter.config import parse_config

from .manifests import KUBERNETES, load_crd_schema, load_objects, load_render_module, pod_specs

render = load_render_module()
OVERLAYS = render.overlay_names()
# The oldest Kubernetes release still maintained upstream and the newest schema available.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
OPERATOR_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.v1",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule.v1",
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): "alertmanagerconfig.v1alpha1",
}
MATCH_TYPES = {"=", "!=", "=~", "!~"}
EXPORTER_IMAGE = "ghcr.io/llm-cost-exporter/llm-cost-exporter"


def test_overlays_found():
    assert OVERLAYS == ["plain-prometheus", "prometheus-operator"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_golden_render_current(overlay):
    committed = (KUBERNETES / "rendered" / f"{overlay}.yaml").read_text()
    assert render.render(overlay) == committed, (
        f"deploy/kubernetes/rendered/{overlay}.yaml is stale: run python deploy/kubernetes/render.py")


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_objects_match_kubernetes_schemas(overlay, version):
    for obj in load_objects(overlay):
        if (obj["apiVersion"], obj["kind"]) in OPERATOR_SCHEMAS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} is invalid for Kubernetes {version}: {err.message} "
                        f"at {'.'.join(map(str, err.path))}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_objects_match_crds(overlay):
    objects = [obj for obj in load_objects(overlay) if (obj["apiVersion"], obj["kind"]) in OPERATOR_SCHEMAS]
    if overlay == "plain-prometheus":
        assert objects == []
        return
    assert sorted(obj["kind"] for obj in objects) == ["AlertmanagerConfig", "PrometheusRule", "ServiceMonitor"]
    for obj in objects:
        schema = load_crd_schema(OPERATOR_SCHEMAS[(obj["apiVersion"], obj["kind"])])
        errors = [f"{error.message} at {'.'.join(map(str, error.absolute_path))}"
                  for error in jsonschema.Draft202012Validator(schema).iter_errors(obj)]
        assert errors == [], f"{obj['kind']} does not match its CRD"
        assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_crd_schema_rejects_unknown_field():
    monitor = operator_object("ServiceMonitor")
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    errors = list(jsonschema.Draft202012Validator(load_crd_schema("servicemonitor.v1")).iter_errors(monitor))
    assert [error.message for error in errors] == ["Additional properties are not allowed ('intervall' was unexpected)"]


def operator_object(kind: str) -> dict[str, Any]:
    return next(obj for obj in load_objects("prometheus-operator") if obj["kind"] == kind)


def test_servicemonitor_selects_services_and_sets_job():
    objects = load_objects("prometheus-operator")
    monitor = operator_object("ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [obj for obj in objects if obj["kind"] == "Service"
                and selector.items() <= obj["metadata"].get("labels", {}).items()]
    assert sorted(service["metadata"]["name"] for service in selected) == ["llm-cost-exporter-central", "llm-gateway"]
    for service in selected:
        assert "metrics" in [port["name"] for port in service["spec"]["ports"]]
    relabel = monitor["spec"]["endpoints"][0]["relabelings"]
    assert {"action": "replace", "targetLabel": "job", "replacement": "llm-cost-exporter"} in relabel


def test_prometheusrule_passes_promtool(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": operator_object("PrometheusRule")["spec"]["groups"]}))
    result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanagerconfig_routes_breaker_first():
    spec = operator_object("AlertmanagerConfig")["spec"]
    receivers = {receiver["name"]: receiver for receiver in spec["receivers"]}
    routes = spec["route"]["routes"]
    # The CRD leaves nested routes unchecked (free-form objects), so their fields are checked here.
    assert spec["route"]["receiver"] in receivers
    for route in routes:
        assert route["receiver"] in receivers
        assert set(route) <= {"receiver", "matchers", "groupBy", "groupWait", "groupInterval", "repeatInterval",
                              "continue", "routes", "muteTimeIntervals", "activeTimeIntervals"}
        for matcher in route.get("matchers", []):
            assert matcher["matchType"] in MATCH_TYPES
            assert set(matcher) == {"name", "value", "matchType"}
    breaker_route = routes[0]
    assert breaker_route["receiver"] == "llm-breaker"
    assert breaker_route["continue"] is True
    assert breaker_route["matchers"] == [{"name": "breaker", "value": "true", "matchType": "="}]
    webhook = receivers["llm-breaker"]["webhookConfigs"][0]
    assert webhook["url"] == "http://llm-cost-exporter-central.llm-gateway.svc:9842/api/v1/breaker/alerts"
    assert webhook["sendResolved"] is True
    assert webhook["httpConfig"]["authorization"]["credentials"] == {"name": "llm-cost-breaker-tokens",
                                                                      "key": "webhook-token"}


def test_breaker_repeats_within_hold_time():
    from llm_cost_exporter.config.durations import parse_duration

    breaker_route = operator_object("AlertmanagerConfig")["spec"]["route"]["routes"][0]
    central = parse_config(configmap_data("prometheus-operator", "llm-cost-exporter-central"))
    assert parse_duration(breaker_route["repeatInterval"]) * 3 <= central.breaker.ttl


def configmap_data(overlay: str, name: str) -> str:
    configmap = next(obj for obj in load_objects(overlay) if obj["kind"] == "ConfigMap"
                     and obj["metadata"]["name"] == name)
    return configmap["data"]["config.yaml"]


@pytest.mark.parametrize("name", ["llm-cost-exporter-sidecar", "llm-cost-exporter-central"])
def test_exporter_configs_valid(name):
    config = parse_config(configmap_data("prometheus-operator", name), name)
    assert config.server.port == 9841
    assert config.server.host == "0.0.0.0"
    assert str(config.state.path).startswith("/var/lib/llm-cost-exporter/")


def test_central_runs_one_breaker_replica():
    central = next(obj for obj in load_objects("prometheus-operator")
                   if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "llm-cost-exporter-central")
    assert central["spec"]["replicas"] == 1
    assert central["spec"]["strategy"] == {"type": "Recreate"}
    config = parse_config(configmap_data("prometheus-operator", "llm-cost-exporter-central"))
    assert config.breaker.enabled
    assert config.breaker.port == 9842


def container_security_problems(pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
    pod_context = pod.get("securityContext", {})
    context = container.get("securityContext", {})

    def setting(name: str) -> Any:
        return context.get(name, pod_context.get(name))

    problems = []
    if setting("runAsNonRoot") is not True:
        problems.append("runAsNonRoot is not true")
    if setting("runAsUser") in (None, 0):
        problems.append("runAsUser is unset or 0")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    if context.get("privileged"):
        problems.append("privileged")
    capabilities = context.get("capabilities", {})
    if capabilities.get("drop") != ["ALL"] or capabilities.get("add"):
        problems.append("capabilities are not drop [ALL] with nothing added")
    if (setting("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append("seccompProfile is not RuntimeDefault")
    resources = container.get("resources", {})
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(kind, {}):
                problems.append(f"no {kind}.{resource}")
    for probe in ("livenessProbe", "readinessProbe"):
        if probe not in container:
            problems.append(f"no {probe}")
    return problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_containers_hardened(overlay):
    checked = 0
    for workload, pod in pod_specs(load_objects(overlay)):
        assert pod.get("automountServiceAccountToken") is False, f"{workload} mounts a service account token"
        for namespace in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(namespace), f"{workload} sets {namespace}"
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            problems = container_security_problems(pod, container)
            assert problems == [], f"{workload}/{container['name']}: {', '.join(problems)}"
            checked += 1
    assert checked == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_exporter_probes_and_image(overlay):
    exporters = [(workload, container) for workload, pod in pod_specs(load_objects(overlay))
                 for container in pod["containers"] if container["name"] == "llm-cost-exporter"]
    assert len(exporters) == 2
    for workload, container in exporters:
        assert container["image"] == f"{EXPORTER_IMAGE}:0.1.0", workload
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        assert {"name": "metrics", "containerPort": 9841} in container["ports"]


def test_sidecar_shares_gateway_log_volume():
    gateway = dict(pod_specs(load_objects("prometheus-operator")))["llm-gateway"]
    mounts = {container["name"]: {mount["name"]: mount for mount in container["volumeMounts"]}
              for container in gateway["containers"]}
    assert mounts["gateway"]["gateway-logs"]["mountPath"] == "/var/log/gateway"
    assert mounts["llm-cost-exporter"]["gateway-logs"]["mountPath"] == "/var/log/gateway"
    assert mounts["llm-cost-exporter"]["gateway-logs"]["readOnly"] is True
    sidecar = parse_config(configmap_data("prometheus-operator", "llm-cost-exporter-sidecar"))
    assert sidecar.sources[0].path == "/var/log/gateway/*.jsonl"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_resolve(overlay):
    """Every ConfigMap, Secret, PVC and named port a pod or Service uses exists in the same render."""
    objects = load_objects(overlay)
    named = {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}

    def data_keys(kind: str, name: str) -> set[str]:
        obj = named.get((kind, name))
        assert obj is not None, f"{kind} {name} is referenced but not defined"
        return set(obj.get("data", {})) | set(obj.get("stringData", {}))

    for workload, pod in pod_specs(objects):
        assert (("ServiceAccount", pod["serviceAccountName"]) in named)
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                keys = data_keys("ConfigMap", volume["configMap"]["name"])
                assert {item["key"] for item in volume["configMap"].get("items", [])} <= keys
            if "secret" in volume:
                keys = data_keys("Secret", volume["secret"]["secretName"])
                assert {item["key"] for item in volume["secret"].get("items", [])} <= keys
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in named
        volume_names = {volume["name"] for volume in pod.get("volumes", [])}
        for container in pod["containers"]:
            assert {mount["name"] for mount in container.get("volumeMounts", [])} <= volume_names, workload
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in data_keys("Secret", ref["name"]), f"{workload}: {variable['name']}"
    for service in (obj for obj in objects if obj["kind"] == "Service"):
        pods = [pod_template for pod_template in (obj["spec"]["template"] for obj in objects
                                                   if obj["kind"] == "Deployment")
                if service["spec"]["selector"].items() <= pod_template["metadata"]["labels"].items()]
        assert pods, f"Service {service['metadata']['name']} selects no pod"
        port_names = {port["name"] for pod_template in pods for container in pod_template["spec"]["containers"]
                      for port in container.get("ports", [])}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= port_names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_only_monitoring(overlay):
    policies = {obj["metadata"]["name"]: obj["spec"] for obj in load_objects(overlay) if obj["kind"] == "NetworkPolicy"}
    assert set(policies) == {"llm-gateway", "llm-cost-exporter-central"}

    def sources_of(spec: dict[str, Any], port: str) -> list[dict[str, Any]]:
        rules = [rule for rule in spec["ingress"] if {"port": port, "protocol": "TCP"} in rule.get("ports", [])]
        assert len(rules) == 1, port
        return rules[0].get("from", [])

    prometheus = {"app.kubernetes.io/name": "prometheus"}
    for name in policies:
        metrics_from = sources_of(policies[name], "metrics")
        assert [peer["podSelector"]["matchLabels"] for peer in metrics_from] == [prometheus]
    breaker_from = sources_of(policies["llm-cost-exporter-central"], "breaker")
    assert [peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in breaker_from] == [
        "alertmanager", "llm-gateway"]


def test_plain_prometheus_annotations_and_scrape_job(tmp_path):
    for workload in (obj for obj in load_objects("plain-prometheus") if obj["kind"] == "Deployment"):
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "9841",
                               "prometheus.io/path": "/metrics"}
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    scrape = yaml.safe_load((KUBERNETES / "overlays" / "plain-prometheus" / "scrape-config.yaml").read_text())
    job = scrape["scrape_configs"][0]
    assert job["job_name"] == "llm-cost-exporter"
    assert job["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["llm-gateway"]}}]
    # Debian builds Prometheus without Kubernetes service discovery, so promtool checks the job
    # (its relabelling rules above all) with static targets in place of the discovery.
    del job["kubernetes_sd_configs"]
    job["static_configs"] = [{"targets": ["127.0.0.1:9841"]}]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(scrape))
    result = subprocess.run([promtool, "check", "config", str(checked)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
