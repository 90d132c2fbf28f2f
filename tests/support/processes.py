"""Real processes for tests: the exporter, Prometheus and Alertmanager on loopback ports.

Each class starts its process in `__init__`, waits until it is ready and stops it in
`stop()` (also as a context manager). Output goes to a log file next to the process's
files, and a start that fails raises with the tail of that log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll `predicate` until it returns a truthy value, and return that value."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (requests.RequestException, OSError) as err:
            last_error = err
        else:
            if value:
                return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found on PATH: install the Debian package (see .ci/run)")
    return path


class ManagedProcess:
    """A child process with its own work directory and log file."""

    name = "process"

    def __init__(self, workdir: Path, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self._log = open(self.log_path, "ab")
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def wait_http_ok(self, url: str, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            return requests.get(url, timeout=2).status_code == 200

        try:
            wait_until(ready, timeout, what=f"{self.name} at {url}")
        except TimeoutError as err:
            self.stop()
            raise RuntimeError(f"{err}\n{self.name} log:\n{self.log_tail()}") from None

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> int:
        """Stop with SIGTERM, then SIGKILL after `timeout`, and return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


class ExporterProcess(ManagedProcess):
    """`llm-cost-exporter serve` with a config written from a dict."""

    name = "exporter"

    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any],
        env: dict[str, str] | None = None,
        wait: bool = True,
    ) -> None:
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        config = dict(config)
        server = dict(config.get("server") or {})
        if "listen" not in server:
            server["listen"] = f"{LOOPBACK}:{free_port()}"
        config["server"] = server
        config.setdefault("state", {"path": str(workdir / "state.db")})
        self.config = config
        self.config_path = workdir / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.address = server["listen"]
        self.url = f"http://{self.address}"
        argv = [sys.executable, "-m", "llm_cost_exporter", "serve", "--config", str(self.config_path)]
        super().__init__(workdir, argv, env)
        if wait:
            self.wait_http_ok(f"{self.url}/readyz")

    def metrics_text(self) -> str:
        response = requests.get(f"{self.url}/metrics", timeout=10)
        response.raise_for_status()
        return response.text


class PrometheusProcess(ManagedProcess):
    """The Debian `prometheus` binary with a generated prometheus.yml."""

    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        scrape_configs: list[dict[str, Any]],
        rule_files: list[str | Path] = (),
        alertmanagers: list[str] = (),
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        extra_args: list[str] = (),
    ) -> None:
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
            "scrape_configs": scrape_configs,
        }
        if rule_files:
            config["rule_files"] = [str(path) for path in rule_files]
        if alertmanagers:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        argv = [
            require_binary("prometheus"),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--web.enable-lifecycle",
            *extra_args,
        ]
        super().__init__(workdir, argv)
        self.wait_http_ok(f"{self.url}/-/ready")

    @staticmethod
    def scrape_config(job: str, targets: list[str], **extra: Any) -> dict[str, Any]:
        return {"job_name": job, "static_configs": [{"targets": targets}], **extra}

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """Run an instant query and return the result vector (or raise on an API error)."""
        params = {"query": expr}
        if at is not None:
            params["time"] = str(at)
        response = requests.get(f"{self.url}/api/v1/query", params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body.get('error')}")
        return body["data"]["result"]

    def query_value(self, expr: str) -> float | None:
        """Return the single value of an instant query, or None when it returns no series."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise RuntimeError(f"query {expr!r} returned {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def alerts(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v1/alerts", timeout=10)
        return response.json()["data"]["alerts"]

    def targets_up(self) -> bool:
        response = requests.get(f"{self.url}/api/v1/targets", timeout=10)
        active = response.json()["data"]["activeTargets"]
        return bool(active) and all(target["health"] == "up" for target in active)


class AlertmanagerProcess(ManagedProcess):
    """The Debian `prometheus-alertmanager` binary with a given configuration."""

    name = "alertmanager"

    def __init__(self, workdir: Path, config: dict[str, Any] | str) -> None:
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "alertmanager.yml"
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        self.config_path.write_text(text)
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.address = f"{LOOPBACK}:{self.port}"
        argv = [
            require_binary("prometheus-alertmanager"),
            f"--config.file={self.config_path}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",
        ]
        super().__init__(workdir, argv)
        self.wait_http_ok(f"{self.url}/-/ready")

    def alerts(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        return response.json()
