"""The nginx auth_request set-up of docs/breaker.md, run with a real nginx in front of a stand-in gateway."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
import requests

from tests.support.processes import LOOPBACK, ExporterProcess, ManagedProcess, free_port, wait_until

from .conftest import GATEWAY_TOKEN, WEBHOOK_TOKEN, make_breaker_config

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "breaker.md"


class Gateway(BaseHTTPRequestHandler):
    """Stands in for the LLM gateway behind nginx."""

    def do_POST(self) -> None:  # noqa: N802 (the http.server naming)
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"choices": []}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass


class NginxProcess(ManagedProcess):
    name = "nginx"

    def __init__(self, workdir: Path, server_block: str, upstreams: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = workdir / "nginx.conf"
        config.write_text(f"""
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    {upstreams}
    server {{
        listen {LOOPBACK}:{self.port};
        {server_block}
    }}
}}
""")
        super().__init__(workdir, [shutil.which("nginx"), "-p", str(workdir), "-c", str(config)])
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.wait_http_ok(f"{self.url}/healthz")


def documented_nginx_config() -> tuple[str, str]:
    """Return the upstream line and the inside of the server block from the nginx example in the docs."""
    text = DOCS.read_text()
    block = re.search(r"```nginx\n(.*?)```", text, re.DOTALL).group(1)
    upstream = re.search(r"^upstream llm_breaker .*$", block, re.MULTILINE).group(0)
    inside = re.search(r"server \{\n(.*)\n\}", block, re.DOTALL).group(1)
    return upstream, inside


@pytest.fixture
def stack(tmp_path):
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (Debian package nginx)")
    gateway = ThreadingHTTPServer((LOOPBACK, free_port()), Gateway)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    upstream, server_block = documented_nginx_config()
    with ExporterProcess(tmp_path / "exporter", make_breaker_config(tmp_path)) as exporter:
        upstream = upstream.replace("llm-cost-exporter-central.llm-gateway.svc:9842", exporter.address)
        upstreams = f"{upstream}\n    upstream llm_gateway {{ server {LOOPBACK}:{gateway.server_address[1]}; }}"
        server_block = server_block.replace("GATEWAY_TOKEN", GATEWAY_TOKEN)
        server_block += "\n        location = /healthz { return 200; }"
        with NginxProcess(tmp_path / "nginx", server_block, upstreams) as nginx:
            yield exporter, nginx
    gateway.shutdown()
    gateway.server_close()


def call(nginx, key: str, feature: str) -> requests.Response:
    return requests.post(f"{nginx.url}/v1/chat/completions", data=b"{}", timeout=5,
                         headers={"X-Api-Key-Id": key, "X-Feature": feature})


def test_nginx_passes_allowed_calls(stack):
    _exporter, nginx = stack
    response = call(nginx, "key-1", "search")
    assert response.status_code == 200
    assert response.json() == {"choices": []}


def test_nginx_throttles_open_feature(stack):
    exporter, nginx = stack
    payload = {"alerts": [{"status": "firing", "fingerprint": "f1", "labels": {
        "alertname": "LLMSpendBurnRateHigh", "breaker": "true", "breaker_scope": "feature", "feature": "search"}}]}
    requests.post(f"{exporter.url}/api/v1/breaker/alerts", data=orjson.dumps(payload), timeout=5,
                  headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}).raise_for_status()

    throttled = call(nginx, "key-1", "search")
    assert throttled.status_code == 429
    assert "throttled" in throttled.json()["error"]
    assert 590 <= int(throttled.headers["Retry-After"]) <= 600
    assert call(nginx, "key-1", "chat").status_code == 200
    wait_until(lambda: 'llm_breaker_checks_total{result="throttled"} 1.0' in exporter.metrics_text(), 5,
               what="the throttled check counted")
