"""The web configuration file of Prometheus' exporter-toolkit: TLS and basic auth for the HTTP server.

The format is the one that node_exporter and the other official exporters take with
`--web.config.file`:

    tls_server_config:
      cert_file: server.crt          # relative paths are relative to this file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: ca.crt
      min_version: TLS12
    http_server_config:
      headers: {Strict-Transport-Security: max-age=31536000}
    basic_auth_users:
      prometheus: $2b$12$...         # bcrypt hash, e.g. from `htpasswd -nBC 12 prometheus`

Python's ssl module cannot ask for a client certificate without verifying it, so the client
auth types RequestClientCert and RequireAnyClientCert, and the Go-specific cipher_suites,
curve_preferences and client_allowed_sans keys, are rejected rather than silently ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNSUPPORTED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version",
             "prefer_server_cipher_suites"}
_UNSUPPORTED_TLS_KEYS = {"cipher_suites", "curve_preferences", "client_allowed_sans"}
_BCRYPT_PREFIXES = (b"$2a$", b"$2b$", b"$2y$")


class WebConfigError(ValueError):
    """An invalid web configuration file; the message names the file and the key."""


@dataclass
class BasicAuth:
    """Users and their bcrypt hashes, with a cache of verified credentials.

    bcrypt takes tens of milliseconds per check by design, and Prometheus sends the same
    credentials with every scrape, so a successful check is remembered by a SHA-256 of the
    user, the password and the hash. Failed checks are not cached.
    """

    users: dict[str, bytes]
    _verified: set[bytes] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, user: str, password: str) -> bool:
        import bcrypt  # imported here so that an exporter without basic auth does not need the package

        hashed = self.users.get(user)
        if hashed is None:
            # Spend about the time of a real check, so a timing does not reveal which users exist.
            bcrypt.checkpw(password.encode(), _DUMMY_HASH)
            return False
        token = hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed))).digest()
        with self._lock:
            if token in self._verified:
                return True
        if not bcrypt.checkpw(password.encode(), hashed):
            return False
        with self._lock:
            if len(self._verified) > 1000:
                self._verified.clear()
            self._verified.add(token)
        return True


# A bcrypt hash (cost 10) of a random password, checked against for unknown users.
_DUMMY_HASH = b"$2b$10$e5IDaVEKfo8DVED/vR1xhu/rpC7xtt9jFMp34hg74UfRN3ZlDNWXu"


@dataclass
class WebConfig:
    """Settings the HTTP server takes from the file: a TLS context, basic auth users and extra headers."""

    ssl_context: ssl.SSLContext | None = None
    basic_auth: BasicAuth | None = None
    headers: dict[str, str] = field(default_factory=dict)


def load_web_config(path: Path, allow_basic_auth: bool = True) -> WebConfig:
    """Read and check the web configuration file at `path`, raising WebConfigError with the reason."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise WebConfigError(f"cannot read the web configuration file {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise WebConfigError(f"invalid YAML in the web configuration file {path}: {err}") from None

    raw = raw or {}
    if not isinstance(raw, dict):
        raise WebConfigError(f"{path}: the top level must be a mapping")
    unknown = sorted(set(raw) - {"tls_server_config", "http_server_config", "basic_auth_users"})
    if unknown:
        raise WebConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; use tls_server_config, "
                             "http_server_config or basic_auth_users")

    config = WebConfig()
    if raw.get("tls_server_config") is not None:
        config.ssl_context = _ssl_context(path, raw["tls_server_config"])
    if raw.get("http_server_config") is not None:
        config.headers = _headers(path, raw["http_server_config"])
    if raw.get("basic_auth_users"):
        if not allow_basic_auth:
            raise WebConfigError(f"{path}: basic_auth_users is not used on the breaker listener, whose endpoints "
                                 "authenticate by bearer token; remove it from this file")
        try:
            import bcrypt  # noqa: F401 (checked here so that a missing package fails at start, not at a scrape)
        except ImportError:
            raise WebConfigError(f"{path}: basic_auth_users needs the Python package bcrypt: "
                                 "pip install bcrypt") from None
        config.basic_auth = BasicAuth(_users(path, raw["basic_auth_users"]))
    return config


def _ssl_context(path: Path, section: Any) -> ssl.SSLContext:
    if not isinstance(section, dict):
        raise WebConfigError(f"{path}: tls_server_config must be a mapping")
    unsupported = sorted(set(section) & _UNSUPPORTED_TLS_KEYS)
    if unsupported:
        raise WebConfigError(f"{path}: tls_server_config.{unsupported[0]} is not supported by this exporter "
                             "(Python's ssl module); remove it, and use min_version: TLS13 to restrict ciphers")
    unknown = sorted(set(section) - _TLS_KEYS - _UNSUPPORTED_TLS_KEYS)
    if unknown:
        raise WebConfigError(f"{path}: unknown key tls_server_config.{unknown[0]}; "
                             f"use one of: {', '.join(sorted(_TLS_KEYS))}")
    for key in ("cert_file", "key_file"):
        if not section.get(key):
            raise WebConfigError(f"{path}: tls_server_config.{key} is missing; TLS needs a certificate and its key")

    auth_type = section.get("client_auth_type") or "NoClientCert"
    if auth_type in _UNSUPPORTED_CLIENT_AUTH:
        raise WebConfigError(f"{path}: client_auth_type {auth_type} is not supported (Python's ssl module cannot "
                             "request a client certificate without verifying it); use VerifyClientCertIfGiven "
                             "or RequireAndVerifyClientCert with client_ca_file")
    if auth_type not in _CLIENT_AUTH:
        raise WebConfigError(f"{path}: invalid client_auth_type {auth_type!r}; use one of: "
                             f"{', '.join(_CLIENT_AUTH)}")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _tls_version(path, section, "min_version", "TLS12")
    if section.get("max_version"):
        context.maximum_version = _tls_version(path, section, "max_version", "TLS13")
    if section.get("prefer_server_cipher_suites", True):
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    cert_file = _resolve(path, section["cert_file"])
    key_file = _resolve(path, section["key_file"])
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as err:
        raise WebConfigError(f"{path}: cannot load cert_file {cert_file} with key_file {key_file}: {err}") from None

    context.verify_mode = _CLIENT_AUTH[auth_type]
    if auth_type != "NoClientCert":
        if not section.get("client_ca_file"):
            raise WebConfigError(f"{path}: client_auth_type {auth_type} needs client_ca_file")
        ca_file = _resolve(path, section["client_ca_file"])
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as err:
            raise WebConfigError(f"{path}: cannot load client_ca_file {ca_file}: {err}") from None
    return context


def _tls_version(path: Path, section: dict[str, Any], key: str, default: str) -> ssl.TLSVersion:
    value = section.get(key) or default
    if value not in _TLS_VERSIONS:
        raise WebConfigError(f"{path}: invalid tls_server_config.{key} {value!r}; use one of: "
                             f"{', '.join(_TLS_VERSIONS)}")
    return _TLS_VERSIONS[value]


def _headers(path: Path, section: Any) -> dict[str, str]:
    if not isinstance(section, dict):
        raise WebConfigError(f"{path}: http_server_config must be a mapping")
    unknown = sorted(set(section) - {"headers", "http2"})
    if unknown:
        raise WebConfigError(f"{path}: unknown key http_server_config.{unknown[0]}; use headers or http2")
    # http2 is accepted for compatibility with exporter-toolkit files; this server speaks HTTP/1.1 only.
    headers = section.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(value, str) for value in headers.values()):
        raise WebConfigError(f"{path}: http_server_config.headers must map header names to strings")
    return {str(name): value for name, value in headers.items()}


def _users(path: Path, section: Any) -> dict[str, bytes]:
    if not isinstance(section, dict):
        raise WebConfigError(f"{path}: basic_auth_users must map user names to bcrypt hashes")
    users = {}
    for user, hashed in section.items():
        encoded = str(hashed).encode()
        if not encoded.startswith(_BCRYPT_PREFIXES):
            raise WebConfigError(f"{path}: the password of basic_auth_users.{user} is not a bcrypt hash "
                                 "($2a$, $2b$ or $2y$); create one with `htpasswd -nBC 12 USER` or Python's bcrypt")
        users[str(user)] = encoded
    return users


def _resolve(base: Path, value: str) -> str:
    file = Path(value)
    return str(file if file.is_absolute() else base.parent / file)


def constant_time_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
