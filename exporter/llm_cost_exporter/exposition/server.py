"""The HTTP server: /metrics (Prometheus text or OpenMetrics by content negotiation), /healthz, /readyz."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 healthy: Callable[[], bool], ready: Callable[[], bool]) -> None:
        self.registry = registry
        self.healthy = healthy
        self.ready = ready
        super().__init__((host, port), _Handler)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        path = urlsplit(self.path).path
        if path == "/metrics":
            self._metrics()
        elif path == "/healthz":
            self._probe(self.server.healthy(), "ok", "ingestion loop stalled")
        elif path == "/readyz":
            self._probe(self.server.ready(), "ready", "starting: state not restored or first read not done")
        elif path == "/":
            self._send(200, b'<html><body><a href="/metrics">/metrics</a></body></html>\n', "text/html")
        else:
            self._send(404, b"not found\n", "text/plain")

    def _metrics(self) -> None:
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        try:
            body = encoder(self.server.registry)
        except Exception:  # a failed render must not kill the server thread
            log.exception("rendering /metrics failed")
            self._send(500, b"rendering metrics failed; see the exporter log\n", "text/plain")
            return
        self._send(200, body, content_type)

    def _probe(self, ok: bool, good: str, bad: str) -> None:
        self._send(200 if ok else 503, f"{good if ok else bad}\n".encode(), "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)
