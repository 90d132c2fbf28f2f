"""The breaker API of a running exporter: tokens, check results for gateways, and their latency."""

from __future__ import annotations

import socket
import statistics
import time

import orjson
import pytest
import requests

from tests.support.processes import ExporterProcess, LOOPBACK, free_port

from .conftest import GATEWAY_TOKEN, WEBHOOK_TOKEN, make_breaker_config

FIRING = {"version": "4", "status": "firing", "receiver": "llm-breaker", "alerts": [
    {"status": "firing", "fingerprint": "f1", "annotations": {"summary": "feature search spends 4x its average"},
     "labels": {"alertname": "LLMSpendBurnRateHigh", "breaker": "true", "breaker_scope": "feature",
                "feature": "search", "severity": "page"}}]}


def post_alerts(url: str, payload: dict, token: str | None = WEBHOOK_TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{url}/api/v1/breaker/alerts", data=orjson.dumps(payload), headers=headers, timeout=5)


def check(url: str, key: str, token: str | None = GATEWAY_TOKEN, **params: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{url}/api/v1/breaker/keys/{key}", params=params, headers=headers, timeout=5)


@pytest.fixture(scope="module")
def exporter(tmp_path_factory):
    """One exporter for the module; each test uses features and keys of its own."""
    tmp_path = tmp_path_factory.mktemp("breaker")
    with ExporterProcess(tmp_path / "exporter", make_breaker_config(tmp_path)) as process:
        yield process


def firing(feature: str) -> dict:
    payload = orjson.loads(orjson.dumps(FIRING))
    payload["alerts"][0]["labels"]["feature"] = feature
    payload["alerts"][0]["fingerprint"] = f"fingerprint-{feature}"
    return payload


def test_webhook_opens_and_check_throttles(exporter):
    assert post_alerts(exporter.url, FIRING).json() == {"placed": 1, "released": 0, "ignored": 0}

    throttled = check(exporter.url, "key-1", feature="search")
    assert throttled.status_code == 429
    body = throttled.json()
    assert body["allowed"] is False
    assert (body["scope"], body["key"]) == ("feature", "search")
    assert body["reason"] == "feature search spends 4x its average"
    assert 590 <= body["retry_after_seconds"] <= 600
    assert throttled.headers["Retry-After"] == str(body["retry_after_seconds"])
    assert check(exporter.url, "key-1", feature="search", deny_status="403").status_code == 403

    allowed = check(exporter.url, "key-1", feature="chat")
    assert allowed.status_code == 200
    assert allowed.json() == {"allowed": True}
    assert 'llm_breaker_open{key="search",scope="feature"} 1.0' in exporter.metrics_text()


def test_webhook_token_required(exporter):
    payload = firing("tokens")
    missing = post_alerts(exporter.url, payload, token=None)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert post_alerts(exporter.url, payload, token="wrong").status_code == 403
    assert post_alerts(exporter.url, payload, token=GATEWAY_TOKEN).status_code == 403
    assert check(exporter.url, "key-1", feature="tokens").status_code == 200
    assert 'llm_breaker_notifications_total{result="unauthorized"} 3.0' in exporter.metrics_text()


def test_gateway_token_required(exporter):
    assert check(exporter.url, "key-1", token=None, feature="search").status_code == 401
    assert check(exporter.url, "key-1", token="wrong", feature="search").status_code == 403
    assert check(exporter.url, "key-1", token=WEBHOOK_TOKEN, feature="search").status_code == 403
    listing = requests.get(f"{exporter.url}/api/v1/breaker/keys", timeout=5)
    assert listing.status_code == 401


def test_open_keys_listed(exporter):
    post_alerts(exporter.url, firing("listed"))
    response = requests.get(f"{exporter.url}/api/v1/breaker/keys",
                            headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"}, timeout=5)
    assert ("feature", "listed") in [(entry["scope"], entry["key"]) for entry in response.json()["open"]]


@pytest.mark.parametrize(("body", "status"), [(b"not json", 400), (b'{"alerts": "none"}', 400)])
def test_invalid_payload_rejected(exporter, body, status):
    response = requests.post(f"{exporter.url}/api/v1/breaker/alerts", data=body,
                             headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}, timeout=5)
    assert response.status_code == status
    assert "error" in response.json()


def test_unknown_query_parameter_rejected(exporter):
    response = check(exporter.url, "key-1", team="ads")
    assert response.status_code == 400
    assert "unknown query parameter 'team'" in response.json()["error"]


def test_url_encoded_key(exporter):
    payload = orjson.loads(orjson.dumps(FIRING))
    payload["alerts"][0]["labels"] = {"alertname": "LLMSpendBurnRateHigh", "breaker": "true",
                                      "api_key_id": "team a/key 1"}
    post_alerts(exporter.url, payload)
    assert check(exporter.url, "team%20a%2Fkey%201").status_code == 429


def test_check_latency(exporter):
    """A check over a kept-alive connection returns in well under a millisecond.

    A raw socket keeps the client's own work small, so the round trip is mostly the server's.
    """
    post_alerts(exporter.url, firing("latency"))
    host, port = exporter.address.rsplit(":", 1)
    durations = []
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for index in range(1000):
            feature = "latency" if index % 2 else "chat"
            request = (f"GET /api/v1/breaker/keys/key-1?feature={feature} HTTP/1.1\r\nHost: exporter\r\n"
                       f"Authorization: Bearer {GATEWAY_TOKEN}\r\n\r\n").encode()
            started = time.perf_counter()
            connection.sendall(request)
            status = read_response(connection)
            durations.append(time.perf_counter() - started)
            assert status == (429 if feature == "latency" else 200)
    assert statistics.median(durations) < 0.001


def read_response(connection: socket.socket) -> int:
    """Read one HTTP response with a Content-Length body and return its status code."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += connection.recv(65536)
    return int(lines[0].split()[1])


def test_separate_listener(tmp_path):
    config = make_breaker_config(tmp_path)
    breaker_port = free_port()
    config["breaker"]["listen"] = f"{LOOPBACK}:{breaker_port}"
    with ExporterProcess(tmp_path / "exporter", config) as exporter:
        breaker_url = f"http://{LOOPBACK}:{breaker_port}"
        assert post_alerts(breaker_url, FIRING).status_code == 200
        assert check(breaker_url, "key-1", feature="search").status_code == 429
        assert post_alerts(exporter.url, FIRING).status_code == 404
        assert requests.get(f"{breaker_url}/metrics", timeout=5).status_code == 404
        assert 'llm_breaker_open{key="search",scope="feature"} 1.0' in exporter.metrics_text()


def check_headers(url: str, path: str = "", token_header: str = "Authorization", **headers: str) -> requests.Response:
    token = f"Bearer {GATEWAY_TOKEN}" if token_header == "Authorization" else GATEWAY_TOKEN
    return requests.get(f"{url}/api/v1/breaker/check{path}", headers={token_header: token, **headers}, timeout=5)


def test_check_endpoint_reads_headers(exporter):
    post_alerts(exporter.url, firing("headers"))
    assert check_headers(exporter.url, **{"X-LLM-Feature": "headers"}).status_code == 429
    assert check_headers(exporter.url, **{"X-LLM-Feature": "other", "X-LLM-Api-Key-Id": "k9"}).status_code == 200


def test_check_endpoint_ignores_appended_path(exporter):
    """Envoy's HTTP ext_authz appends the original request path to path_prefix."""
    post_alerts(exporter.url, firing("envoy"))
    response = check_headers(exporter.url, "/v1/chat/completions", "X-LLM-Breaker-Token", **{"X-LLM-Feature": "envoy"})
    assert response.status_code == 429
    assert response.json()["key"] == "envoy"


def test_check_endpoint_for_nginx(exporter):
    """nginx auth_request denies on 401 or 403 only, so it requests 403."""
    post_alerts(exporter.url, firing("nginx"))
    response = requests.get(f"{exporter.url}/api/v1/breaker/check", params={"deny_status": "403"},
                            headers={"Authorization": f"Bearer {GATEWAY_TOKEN}", "X-LLM-Feature": "nginx"}, timeout=5)
    assert response.status_code == 403


def test_check_endpoint_needs_a_spender(exporter):
    response = check_headers(exporter.url)
    assert response.status_code == 400
    assert "X-LLM-Api-Key-Id, X-LLM-Feature" in response.json()["error"]


@pytest.mark.parametrize("path", ["?deny_status=403", "?feature=", "?deny_status=403&api_key_id="])
def test_check_query_without_spender_rejected(exporter, path):
    """A query string that names no spender must not turn a check into an allowed one."""
    response = check_headers(exporter.url, path)
    assert response.status_code == 400
    assert "name the spender" in response.json()["error"]


def test_check_endpoint_accepts_query_scope(exporter):
    post_alerts(exporter.url, firing("by-query"))
    assert check_headers(exporter.url, "?feature=by-query").status_code == 429
    assert check_headers(exporter.url, "?feature=calm").status_code == 200


def test_check_endpoint_token_required(exporter):
    post_alerts(exporter.url, firing("check-token"))
    response = requests.get(f"{exporter.url}/api/v1/breaker/check",
                            headers={"Authorization": "Bearer client-llm-key", "X-LLM-Feature": "check-token"},
                            timeout=5)
    assert response.status_code == 403
    assert check_headers(exporter.url, token_header="X-LLM-Breaker-Token",
                         **{"X-LLM-Feature": "check-token"}).status_code == 429
