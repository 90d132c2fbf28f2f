"""/metrics behind TLS, client certificates and basic auth, scraped by a real Prometheus."""

from __future__ import annotations

import subprocess
import sys

import bcrypt
import pytest
import requests
import yaml

from tests.support.processes import ExporterProcess, PrometheusProcess, free_port, wait_until

from .certificates import CertificateAuthority

pytestmark = pytest.mark.slow

PASSWORD = "scrape-password-7d1e"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    ca = CertificateAuthority(directory)
    return {
        "ca": ca,
        "server": ca.issue("server", "llm-cost-exporter", server=True),
        "client": ca.issue("prometheus", "prometheus", server=False),
        "rogue": CertificateAuthority(directory, "rogue CA").issue("rogue", "prometheus", server=False),
    }


@pytest.fixture(scope="module")
def exporter(tmp_path_factory, tls):
    workdir = tmp_path_factory.mktemp("exporter")
    web_config = workdir / "web.yml"
    web_config.write_text(yaml.safe_dump({
        "tls_server_config": {"cert_file": str(tls["server"].cert), "key_file": str(tls["server"].key),
                              "client_auth_type": "RequireAndVerifyClientCert",
                              "client_ca_file": str(tls["ca"].pair.cert)},
        "basic_auth_users": {"prometheus": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()},
    }))
    process = ExporterProcess(workdir, {"server": {"web_config_file": str(web_config)},
                                        "state": {"path": str(workdir / "state.db"),
                                                  "checkpoint_interval": "200ms"}}, wait=False)
    url = f"https://{process.address}"
    try:
        wait_until(lambda: requests.get(f"{url}/readyz", verify=str(tls["ca"].pair.cert),
                                        cert=(str(tls["client"].cert), str(tls["client"].key)),
                                        timeout=2).status_code == 200, 30, what="exporter over TLS")
    except TimeoutError:
        process.stop()
        raise RuntimeError(f"exporter did not start:\n{process.log_tail()}") from None
    process.url = url
    yield process
    process.stop()


def client(tls, user: str | None = "prometheus", password: str = PASSWORD, cert: str = "client") -> dict:
    options = {"verify": str(tls["ca"].pair.cert), "timeout": 5}
    if cert:
        options["cert"] = (str(tls[cert].cert), str(tls[cert].key))
    if user:
        options["auth"] = (user, password)
    return options


def test_prometheus_scrapes_through_tls_and_basic_auth(tmp_path, exporter, tls):
    tls_config = {"ca_file": str(tls["ca"].pair.cert), "cert_file": str(tls["client"].cert),
                  "key_file": str(tls["client"].key)}
    jobs = [
        PrometheusProcess.scrape_config("llm-cost-exporter", [exporter.address], scheme="https",
                                        tls_config=tls_config,
                                        basic_auth={"username": "prometheus", "password": PASSWORD}),
        PrometheusProcess.scrape_config("wrong-password", [exporter.address], scheme="https",
                                        tls_config=tls_config,
                                        basic_auth={"username": "prometheus", "password": "guess"}),
        PrometheusProcess.scrape_config("no-client-cert", [exporter.address], scheme="https",
                                        tls_config={"ca_file": str(tls["ca"].pair.cert)},
                                        basic_auth={"username": "prometheus", "password": PASSWORD}),
    ]
    with PrometheusProcess(tmp_path / "prometheus", jobs) as prometheus:
        def targets() -> dict[str, dict]:
            active = requests.get(f"{prometheus.url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            found = {target["labels"]["job"]: target for target in active}
            return found if all(target["health"] != "unknown" for target in found.values()) and len(found) == 3 \
                else None

        found = wait_until(targets, 30, what="three scraped targets")
        assert found["llm-cost-exporter"]["health"] == "up"
        assert found["wrong-password"]["health"] == "down"
        assert "401" in found["wrong-password"]["lastError"]
        assert found["no-client-cert"]["health"] == "down"
        assert prometheus.query_value('llm_exporter_build_info{job="llm-cost-exporter"}') == 1.0


def test_metrics_with_credentials(exporter, tls):
    response = requests.get(f"{exporter.url}/metrics", **client(tls))
    assert response.status_code == 200
    assert "llm_exporter_build_info" in response.text


@pytest.mark.parametrize(("user", "password"), [(None, ""), ("prometheus", "guess"), ("admin", PASSWORD)])
def test_metrics_without_valid_credentials_rejected(exporter, tls, user, password):
    response = requests.get(f"{exporter.url}/metrics", **client(tls, user, password))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert "llm_" not in response.text


def test_probes_need_no_credentials(exporter, tls):
    assert requests.get(f"{exporter.url}/healthz", **client(tls, user=None)).status_code == 200
    assert requests.get(f"{exporter.url}/readyz", **client(tls, user=None)).status_code == 200


@pytest.mark.parametrize("cert", [None, "rogue"])
def test_untrusted_client_certificate_rejected(exporter, tls, cert):
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{exporter.url}/metrics", **client(tls, cert=cert))


def test_plain_http_rejected(exporter):
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://{exporter.address}/metrics", timeout=5)


def test_invalid_web_config_stops_start(tmp_path):
    web_config = tmp_path / "web.yml"
    web_config.write_text("basic_auth_users:\n  prometheus: plain-text\n")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"server": {"listen": f"127.0.0.1:{free_port()}", "web_config_file": str(web_config)},
                                      "state": {"path": str(tmp_path / "state.db")}}))
    result = subprocess.run([sys.executable, "-m", "llm_cost_exporter", "serve", "--config", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "is not a bcrypt hash" in result.stderr


def test_breaker_listener_over_tls(tmp_path, tls):
    from tests.breaker.conftest import GATEWAY_TOKEN, make_breaker_config

    web_config = tmp_path / "breaker-web.yml"
    web_config.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": str(tls["server"].cert),
                                                                "key_file": str(tls["server"].key)}}))
    config = make_breaker_config(tmp_path)
    breaker_port = free_port()
    config["breaker"].update({"listen": f"127.0.0.1:{breaker_port}", "web_config_file": str(web_config)})
    with ExporterProcess(tmp_path / "exporter", config):
        url = f"https://127.0.0.1:{breaker_port}/api/v1/breaker/keys/key-1"
        headers = {"Authorization": f"Bearer {GATEWAY_TOKEN}"}
        response = requests.get(url, headers=headers, verify=str(tls["ca"].pair.cert), timeout=5)
        assert response.status_code == 200
        assert response.json() == {"allowed": True}
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(url.replace("https://", "http://"), headers=headers, timeout=5)
