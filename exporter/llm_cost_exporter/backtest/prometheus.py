"""A Prometheus server on a backfilled TSDB, and promtool's backfill, for backtests.

Prometheus listens on a free loopback port, scrapes nothing and evaluates no rules. It only
serves range queries over the blocks that `promtool tsdb create-blocks-from openmetrics`
wrote into its data directory. Prometheus reads new blocks at start, so each backfill
happens while it is stopped.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

log = logging.getLogger(__name__)

# Prometheus rejects range queries with more points than this per series.
MAX_POINTS_PER_QUERY = 11_000
STARTUP_TIMEOUT_SECONDS = 120.0
# Restarts of a Prometheus that died during a query, such as one ended by a
# `pkill -x prometheus` elsewhere on a shared machine, before the backtest gives up.
MAX_RESTARTS = 3


class BacktestToolError(RuntimeError):
    """Prometheus or promtool is missing or failed."""


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BacktestToolError(f"{name} not found on PATH; install Debian's prometheus package "
                                f"(apt-get install prometheus), which provides prometheus and promtool")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def backfill(openmetrics: Path, data_dir: Path, max_block_duration: str = "744h") -> None:
    """Write the samples of an OpenMetrics file as TSDB blocks into `data_dir`.

    promtool parses the whole file once per block, so long blocks keep a month-long file
    to a few passes.
    """
    promtool = require_binary("promtool")
    data_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", f"--max-block-duration={max_block_duration}",
         str(openmetrics), str(data_dir)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise BacktestToolError(f"promtool failed to backfill {openmetrics}: {result.stderr.strip()[-2000:]}")


class PrometheusServer:
    """Runs `prometheus` on `data_dir` until `stop`; use as a context manager."""

    def __init__(self, workdir: Path, data_dir: Path) -> None:
        self.workdir = workdir
        self.data_dir = data_dir
        self.session = requests.Session()
        self.restarts = 0
        self._log = open(workdir / "prometheus.log", "ab")
        self._start()

    def _start(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = self.workdir / "prometheus.yml"
        config.write_text("global:\n  evaluation_interval: 1m\nscrape_configs: []\n")
        data_dir = self.data_dir
        self.process = subprocess.Popen(
            [
                require_binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={data_dir}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--query.max-samples=500000000",
                "--query.timeout=30m",
                "--log.level=warn",
            ],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BacktestToolError(f"prometheus exited with code {self.process.returncode}; "
                                        f"see {self.workdir / 'prometheus.log'}")
            try:
                if self.session.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise BacktestToolError(f"prometheus was not ready within {STARTUP_TIMEOUT_SECONDS:.0f} s; "
                                f"see {self.workdir / 'prometheus.log'}")

    def query_range(self, expr: str, start: float, end: float, step: float) -> dict[tuple, list[tuple[float, float]]]:
        """Evaluate `expr` at start, start+step, ... up to end; return samples by label set.

        The label set is a sorted tuple of (name, value) pairs. Long ranges are split into
        several queries, because Prometheus limits the points per series of one query.
        """
        series: dict[tuple, list[tuple[float, float]]] = {}
        chunk = step * (MAX_POINTS_PER_QUERY - 1)
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + chunk)
            body = self._post_query({"query": expr, "start": repr(chunk_start), "end": repr(chunk_end),
                                     "step": repr(step)})
            if body.get("status") != "success":
                raise BacktestToolError(f"query failed: {body.get('error', body)}\n  query: {expr}")
            for result in body["data"]["result"]:
                key = tuple(sorted(result["metric"].items()))
                series.setdefault(key, []).extend((float(t), float(v)) for t, v in result["values"])
            chunk_start = chunk_end + step
        return series

    def _post_query(self, data: dict[str, str]) -> dict:
        """POST a range query; restart Prometheus and retry when it died during the query."""
        while True:
            try:
                return self.session.post(f"{self.url}/api/v1/query_range", data=data, timeout=1800).json()
            except requests.ConnectionError as err:
                try:
                    self.process.wait(timeout=30)  # a SIGTERM lets it shut down for a few seconds
                except subprocess.TimeoutExpired:
                    raise BacktestToolError(f"prometheus failed during a query: {err}") from err
                if self.restarts >= MAX_RESTARTS:
                    raise BacktestToolError(f"prometheus exited during a query {self.restarts + 1} times: "
                                            f"{err}") from err
                self.restarts += 1
                log.warning("prometheus on port %d exited with code %s during a query; restarting it (%d of %d)",
                            self.port, self.process.returncode, self.restarts, MAX_RESTARTS)
                self._start()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    def __enter__(self) -> "PrometheusServer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
