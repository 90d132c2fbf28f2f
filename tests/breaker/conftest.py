from __future__ import annotations

from pathlib import Path

from tests.support.processes import LOOPBACK, free_port

WEBHOOK_TOKEN = "webhook-token-3f9a"
GATEWAY_TOKEN = "gateway-token-81c2"


def make_breaker_config(tmp_path: Path, port: int | None = None, ttl: str = "10m") -> dict:
    """Return an exporter config with the breaker on, its token files written under `tmp_path`."""
    (tmp_path / "webhook.token").write_text(WEBHOOK_TOKEN + "\n")
    (tmp_path / "gateway.token").write_text(GATEWAY_TOKEN + "\n")
    return {
        "server": {"listen": f"{LOOPBACK}:{port or free_port()}"},
        "state": {"path": str(tmp_path / "state.db"), "checkpoint_interval": "200ms"},
        "breaker": {"enabled": True, "ttl": ttl,
                    "webhook_token_file": str(tmp_path / "webhook.token"),
                    "gateway_token_file": str(tmp_path / "gateway.token")},
    }
