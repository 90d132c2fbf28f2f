"""Loading the exporter-toolkit web configuration file, and basic auth against bcrypt hashes."""

from __future__ import annotations

import ssl

import bcrypt
import pytest
import yaml

from llm_cost_exporter.exposition.web_config import WebConfigError, load_web_config

from .certificates import CertificateAuthority


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    ca = CertificateAuthority(directory)
    return ca, ca.issue("server", "exporter", server=True)


def write(tmp_path, content) -> object:
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_tls_context_from_file(tmp_path, tls_files):
    ca, server = tls_files
    config = load_web_config(write(tmp_path, {"tls_server_config": {
        "cert_file": str(server.cert), "key_file": str(server.key), "client_auth_type": "RequireAndVerifyClientCert",
        "client_ca_file": str(ca.pair.cert), "min_version": "TLS13"}}))
    assert config.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert config.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert config.basic_auth is None


def test_relative_paths_from_file_folder(tmp_path, tls_files):
    _ca, server = tls_files
    (tmp_path / "server.crt").write_bytes(server.cert.read_bytes())
    (tmp_path / "server.key").write_bytes(server.key.read_bytes())
    config = load_web_config(write(tmp_path, {"tls_server_config": {"cert_file": "server.crt",
                                                                    "key_file": "server.key"}}))
    assert config.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert config.ssl_context.verify_mode == ssl.CERT_NONE


def test_headers_from_http_server_config(tmp_path):
    config = load_web_config(write(tmp_path, {"http_server_config": {"http2": True, "headers": {"X-Frame-Options": "deny"}}}))
    assert config.headers == {"X-Frame-Options": "deny"}
    assert config.ssl_context is None


def test_basic_auth_checks_bcrypt(tmp_path):
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    config = load_web_config(write(tmp_path, {"basic_auth_users": {"prometheus": hashed}}))
    assert config.basic_auth.check("prometheus", "s3cret")
    assert config.basic_auth.check("prometheus", "s3cret")  # served from the cache
    assert not config.basic_auth.check("prometheus", "wrong")
    assert not config.basic_auth.check("grafana", "s3cret")


def test_basic_auth_accepts_htpasswd_2y(tmp_path):
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)
    config = load_web_config(write(tmp_path, {"basic_auth_users": {"prometheus": hashed}}))
    assert config.basic_auth.check("prometheus", "s3cret")


@pytest.mark.parametrize(("content", "message"), [
    ({"basic_auth_users": {"prometheus": "plain-text"}}, "is not a bcrypt hash"),
    ({"tls_server_config": {"cert_file": "a.crt"}}, "tls_server_config.key_file is missing"),
    ({"tls_server_config": {"cert_file": "missing.crt", "key_file": "missing.key"}}, "cannot load cert_file"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "client_auth_type": "RequireAnyClientCert"}},
     "RequireAnyClientCert is not supported"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "client_auth_type": "Sometimes"}},
     "invalid client_auth_type 'Sometimes'"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "cipher_suites": ["TLS_AES_128_GCM_SHA256"]}},
     "cipher_suites is not supported"),
    ({"tls_server_config": {"cert_file": "a", "key_file": "b", "min_version": "TLS9"}},
     "invalid tls_server_config.min_version 'TLS9'"),
    ({"tls_config": {}}, "unknown key\\(s\\) tls_config"),
])
def test_invalid_file_rejected(tmp_path, content, message):
    with pytest.raises(WebConfigError, match=message):
        load_web_config(write(tmp_path, content))


def test_client_auth_needs_ca(tmp_path, tls_files):
    _ca, server = tls_files
    with pytest.raises(WebConfigError, match="needs client_ca_file"):
        load_web_config(write(tmp_path, {"tls_server_config": {
            "cert_file": str(server.cert), "key_file": str(server.key),
            "client_auth_type": "VerifyClientCertIfGiven"}}))


def test_breaker_listener_rejects_basic_auth(tmp_path):
    hashed = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=4)).decode()
    with pytest.raises(WebConfigError, match="authenticate by bearer token"):
        load_web_config(write(tmp_path, {"basic_auth_users": {"a": hashed}}), allow_basic_auth=False)


def test_missing_file_rejected(tmp_path):
    with pytest.raises(WebConfigError, match="cannot read the web configuration file"):
        load_web_config(tmp_path / "absent.yml")
