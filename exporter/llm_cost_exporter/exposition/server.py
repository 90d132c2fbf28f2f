"""The HTTP server: /metrics (Prometheus text or OpenMetrics by content negotiation), /healthz, /readyz,
and the circuit breaker's API.

One server class serves two roles. The main listener serves the metrics and the probes, with
optional TLS and basic auth from a web configuration file. The probes need no credentials, so
that kubelet can call them. The breaker API is served on the main listener or on a listener
of its own, and always requires a bearer token:

    POST /api/v1/breaker/alerts          Alertmanager's webhook (webhook token)
    GET  /api/v1/breaker/keys/{key}      may this key call? 200 allowed, 429 throttled (gateway token)
    GET  /api/v1/breaker/check[/...]     the same with the key in headers, for Envoy ext_authz and
                                         nginx auth_request, which append or fix the path (gateway token)
    GET  /api/v1/breaker/keys            every open key (gateway token)

Gateways may send their token as `Authorization: Bearer TOKEN` or as `X-LLM-Breaker-Token: TOKEN`,
because a proxy that forwards the client's own Authorization header to the check cannot use the first.

The server is threaded: each connection has its own thread, and a TLS handshake happens in that
thread, so a slow client never holds up the others.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
from prometheus_client import CollectorRegistry

from ..breaker import Breaker, Decision, WebhookError, parse_notification
from ..breaker.webhook import MAX_PAYLOAD_BYTES
from .encoder import CachingEncoder
from .web_config import WebConfig, WebConfigError, constant_time_equal, load_web_config

if TYPE_CHECKING:
    from ..config import Config

log = logging.getLogger(__name__)

# Long enough for Prometheus to reuse a connection between scrapes, short enough to free idle threads.
IDLE_TIMEOUT_SECONDS = 300.0
HANDSHAKE_TIMEOUT_SECONDS = 10.0
KEYS_PATH = "/api/v1/breaker/keys"
CHECK_PATH = "/api/v1/breaker/check"
GATEWAY_TOKEN_HEADER = "X-LLM-Breaker-Token"
# A scope such as api_key_id is read from the header X-LLM-Api-Key-Id on the check endpoint.
SCOPE_HEADER_PREFIX = "X-LLM-"
ALERTS_PATH = "/api/v1/breaker/alerts"


@dataclass(frozen=True)
class BreakerAPI:
    """The breaker and the settings its endpoints need."""

    breaker: Breaker
    webhook_token: str
    gateway_token: str
    scopes: tuple[str, ...]
    key_label: str


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, registry: CollectorRegistry | None,
                 healthy: Callable[[], bool], ready: Callable[[], bool],
                 web_config: WebConfig | None = None, breaker_api: BreakerAPI | None = None) -> None:
        """Serve the metrics and probes when `registry` is given, and the breaker API when `breaker_api` is."""
        self.registry = registry
        self.encoder = CachingEncoder()
        self.healthy = healthy
        self.ready = ready
        self.web_config = web_config or WebConfig()
        self.breaker_api = breaker_api
        if ":" in host:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((host, port), _Handler)
        except OSError as err:
            message = (f"cannot listen on {host}:{port}: {err.strerror}; stop the process that uses the port, "
                       "or set another listen address in the configuration")
            raise OSError(err.errno, message) from None
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.web_config.ssl_context else "http"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name=f"http-{self.server_address[1]}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def finish_request(self, request, client_address) -> None:
        context = self.web_config.ssl_context
        if context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
        try:
            tls_request = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as err:
            log.debug("TLS handshake with %s failed: %s", client_address[0], err)
            return
        try:
            self.RequestHandlerClass(tls_request, client_address, self)
        finally:
            tls_request.close()


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    _head_only = False
    # The headers and the body go out in two writes. With Nagle's algorithm the second write waits
    # for the client's delayed ACK, which adds about 40 ms to every response on a kept-alive connection.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
        url = urlsplit(self.path)
        path = url.path
        if self.server.breaker_api is not None and _under(path, KEYS_PATH, CHECK_PATH):
            self._breaker_check(path, url.query)
        elif self.server.registry is None:
            self._send(404, b"not found\n", "text/plain")
        elif path == "/metrics":
            if self._basic_auth_ok():
                self._metrics()
        elif path == "/healthz":
            self._probe(self.server.healthy(), "ok", "ingestion loop stalled")
        elif path == "/readyz":
            self._probe(self.server.ready(), "ready", "starting: state not restored or first read not done")
        elif path == "/":
            if self._basic_auth_ok():
                self._send(200, b'<html><body><a href="/metrics">/metrics</a></body></html>\n', "text/html")
        else:
            self._send(404, b"not found\n", "text/plain")

    def do_HEAD(self) -> None:  # noqa: N802
        """Send the response GET would send, without the body (curl -I, load balancer checks)."""
        self._head_only = True
        try:
            self.do_GET()
        finally:
            self._head_only = False  # the handler serves the connection's next requests too

    def do_POST(self) -> None:  # noqa: N802
        if self.server.breaker_api is None or urlsplit(self.path).path != ALERTS_PATH:
            self.close_connection = True
            self._send(404, b"not found\n", "text/plain")
            return
        self._breaker_alerts(self.server.breaker_api)

    # --- metrics ---------------------------------------------------------------------

    def _metrics(self) -> None:
        try:
            body, content_type = self.server.encoder.encode(self.server.registry, self.headers.get("Accept", ""))
        except Exception:  # a failed render must not kill the server thread
            log.exception("rendering /metrics failed")
            self._send(500, b"rendering metrics failed; see the exporter log\n", "text/plain")
            return
        self._send(200, body, content_type)

    def _probe(self, ok: bool, good: str, bad: str) -> None:
        self._send(200 if ok else 503, f"{good if ok else bad}\n".encode(), "text/plain")

    def _basic_auth_ok(self) -> bool:
        auth = self.server.web_config.basic_auth
        if auth is None:
            return True
        user, password = _basic_credentials(self.headers.get("Authorization", ""))
        if user is not None and auth.check(user, password):
            return True
        log.info("rejected %s %s from %s: missing or wrong basic auth credentials", self.command,
                 urlsplit(self.path).path, self.client_address[0])
        self._send(401, b"unauthorized: this endpoint requires basic auth\n", "text/plain",
                   {"WWW-Authenticate": 'Basic realm="llm-cost-exporter"'})
        return False

    # --- breaker ---------------------------------------------------------------------

    def _breaker_alerts(self, api: BreakerAPI) -> None:
        if not self._bearer_ok(api.webhook_token, api.breaker):
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._send_json(411, {"error": "a Content-Length header is required"})
            return
        if int(length) > MAX_PAYLOAD_BYTES:
            self.close_connection = True
            self._send_json(413, {"error": f"payload larger than {MAX_PAYLOAD_BYTES} bytes"})
            return
        body = self.rfile.read(int(length))
        try:
            actions, ignored = parse_notification(body, list(api.scopes))
        except WebhookError as err:
            api.breaker.count_rejected("rejected")
            log.warning("rejected a breaker notification from %s: %s", self.client_address[0], err)
            self._send_json(400, {"error": str(err)})
            return
        placed, released = api.breaker.apply(actions)
        self._send_json(200, {"placed": placed, "released": released, "ignored": ignored})

    def _breaker_check(self, path: str, query: str) -> None:
        api = self.server.breaker_api
        if not self._bearer_ok(api.gateway_token, None, GATEWAY_TOKEN_HEADER):
            return
        if path == KEYS_PATH:
            self._send_json(200, {"open": [_decision_json(decision) for decision in api.breaker.open_keys()]})
            return
        scoped = []
        by_headers = _under(path, CHECK_PATH)
        if by_headers:
            for scope in api.scopes:
                value = self.headers.get(_scope_header(scope))
                if value:
                    scoped.append((scope, value))
        else:
            encoded_key = path[len(KEYS_PATH) + 1:]
            if not encoded_key or "/" in encoded_key:
                self._send_json(404, {"error": f"use {KEYS_PATH}/KEY with one URL-encoded key"})
                return
            scoped.append((api.key_label, unquote(encoded_key)))
        deny_status = 429
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name == "deny_status":
                if value not in ("403", "429"):
                    self._send_json(400, {"error": "deny_status must be 403 or 429"})
                    return
                deny_status = int(value)
            elif name in api.scopes:
                if value:
                    scoped.append((name, value))
            else:
                self._send_json(400, {"error": f"unknown query parameter {name!r}; use deny_status or one "
                                               f"of the breaker scopes: {', '.join(api.scopes)}"})
                return
        if by_headers and not scoped:
            # A check that names no spender must not pass as allowed: nginx and Envoy would let
            # every request through when their header mapping is missing.
            headers = ", ".join(_scope_header(scope) for scope in api.scopes)
            self._send_json(400, {"error": f"name the spender in at least one header of: {headers}, "
                                           f"or a query parameter of: {', '.join(api.scopes)}"})
            return
        decision = api.breaker.check(scoped)
        if decision.allowed:
            self._send(200, b'{"allowed":true}', "application/json")
            return
        body = _decision_json(decision)
        self._send(deny_status, orjson.dumps(body), "application/json",
                   {"Retry-After": str(body["retry_after_seconds"])})

    def _bearer_ok(self, expected: str, breaker: Breaker | None, token_header: str | None = None) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token and constant_time_equal(token.strip(), expected):
            return True
        alternative = self.headers.get(token_header, "") if token_header else ""
        if alternative and constant_time_equal(alternative.strip(), expected):
            return True
        header = header or alternative
        if breaker is not None:
            breaker.count_rejected("unauthorized")
        status = 401 if not header else 403
        log.info("rejected %s %s from %s: %s bearer token", self.command, urlsplit(self.path).path,
                 self.client_address[0], "missing" if status == 401 else "wrong")
        self.close_connection = True
        self._send_json(status, {"error": "a valid bearer token is required"},
                        {"WWW-Authenticate": 'Bearer realm="llm-cost-breaker"'})
        return False

    # --- plumbing --------------------------------------------------------------------

    def _send_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, orjson.dumps(body), "application/json", headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**self.server.web_config.headers, **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if not self._head_only:
            self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def _scope_header(scope: str) -> str:
    """Return the header that carries a scope on the check endpoint: api_key_id -> X-LLM-Api-Key-Id."""
    return SCOPE_HEADER_PREFIX + "-".join(part.capitalize() for part in scope.split("_"))


def _under(path: str, *prefixes: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


def _basic_credentials(header: str) -> tuple[str | None, str]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, ""
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    return (user, password) if sep else (None, "")


def _decision_json(decision: Decision) -> dict[str, object]:
    hold = decision.hold
    return {
        "allowed": False,
        "scope": hold.scope,
        "key": hold.key,
        "alertname": hold.alertname,
        "reason": hold.reason,
        "opened_at": _rfc3339(hold.opened_at),
        "reopens_at": _rfc3339(decision.reopens_at),
        "retry_after_seconds": max(1, math.ceil(decision.reopens_at - time.time())),
    }


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_servers(config: Config, registry: CollectorRegistry, healthy: Callable[[], bool],
                  ready: Callable[[], bool], breaker: Breaker | None) -> list[MetricsServer]:
    """Create the main listener and, when breaker.listen is set, the breaker's own listener.

    Raises WebConfigError for an invalid web configuration or token file, and OSError when a port is taken.
    """
    web_config = load_web_config(config.server.web_config_file) if config.server.web_config_file else None
    breaker_api = None
    if breaker is not None:
        breaker_api = BreakerAPI(breaker, read_token(config.breaker.webhook_token_file),
                                 read_token(config.breaker.gateway_token_file), tuple(config.breaker.scopes),
                                 config.breaker.key_label)
    if breaker_api is None or config.breaker.listen is None:
        return [MetricsServer(config.server.host, config.server.port, registry, healthy, ready, web_config,
                              breaker_api)]
    breaker_web_config = (load_web_config(config.breaker.web_config_file, allow_basic_auth=False)
                          if config.breaker.web_config_file else None)
    main = MetricsServer(config.server.host, config.server.port, registry, healthy, ready, web_config)
    try:
        breaker_server = MetricsServer(config.breaker.host, config.breaker.port, None, healthy, ready,
                                       breaker_web_config, breaker_api)
    except OSError:
        main.server_close()
        raise
    return [main, breaker_server]


def read_token(path: Path) -> str:
    """Return the bearer token stored in `path`, without surrounding whitespace."""
    try:
        token = Path(path).read_text().strip()
    except OSError as err:
        raise WebConfigError(f"cannot read the breaker token file {path}: {err.strerror}") from None
    if not token:
        raise WebConfigError(f"the breaker token file {path} is empty: write a random token into it")
    return token
