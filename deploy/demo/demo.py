"""A local demo stack: a runaway agent loop pages on-call and opens the circuit breaker.

Real processes on loopback: Prometheus and Alertmanager from Debian's packages, the exporter
with its breaker, a small webhook receiver in place of the pager, and a feeder that
appends a simulated gateway log. The log comes from `llm-cost-exporter simulate` with the
agent-loop scenario on deploy/demo/profile.yaml, and the feeder replays it compressed in
time (`--speedup` event seconds per wall second) with current timestamps.

The alert rules are the project's templates rendered with windows of seconds instead of
minutes and days. Because the demo's baseline covers minutes and already contains the start
of the loop, LLMSpendBurnRateHigh fires at 1.5 times the baseline here, not at the 3 times of
alert_rules/values.yaml; in this profile the loop raises support-agent's spend about 2.3 times.

Usage (from the repository root):
    python deploy/demo/demo.py            # runs until Ctrl-C, printing the URLs to open
    python deploy/demo/demo.py --fast     # shorter timings; exits 0 once the page and the
                                          # breaker opening are seen, 1 on timeout
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.support.processes import (  # noqa: E402 (needs the repository on sys.path)
    LOOPBACK,
    AlertmanagerProcess,
    ExporterProcess,
    PrometheusProcess,
    free_port,
)

FEATURE = "support-agent"
GATEWAY_TOKEN = "demo-gateway-token"
WEBHOOK_TOKEN = "demo-webhook-token"


@dataclass(frozen=True)
class Timings:
    """Event-time compression and the burn-rate rule's windows, in Prometheus notation."""

    speedup: float
    onset: str
    events: int
    interval: str
    long_window: str
    short_window: str
    baseline_window: str
    alert_for: str
    keep_firing_for: str
    breaker_ttl: str


FAST = Timings(speedup=20, onset="10m", events=30000, interval="1s", long_window="20s", short_window="10s",
               baseline_window="2m", alert_for="5s", keep_firing_for="30s", breaker_ttl="2m")
NORMAL = Timings(speedup=10, onset="20m", events=80000, interval="2s", long_window="1m", short_window="30s",
                 baseline_window="5m", alert_for="15s", keep_firing_for="1m", breaker_ttl="10m")


class Pager(ThreadingHTTPServer):
    """A webhook receiver standing in for the pager: it records Alertmanager's notifications."""

    daemon_threads = True

    def __init__(self) -> None:
        self.pages: list[dict] = []
        self.received = threading.Event()
        super().__init__((LOOPBACK, free_port()), _PagerHandler)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"


class _PagerHandler(BaseHTTPRequestHandler):
    server: Pager

    def do_POST(self) -> None:  # noqa: N802 (the http.server naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        notification = orjson.loads(body)
        for alert in notification.get("alerts", []):
            labels = alert["labels"]
            print(f"[pager] {alert['status'].upper()}: {labels.get('alertname')} "
                  f"feature={labels.get('feature', '')!r} severity={labels.get('severity')}", flush=True)
            if alert["status"] == "firing":
                self.server.pages.append(alert)
                self.server.received.set()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args) -> None:
        pass


def clean_workdir(workdir: Path) -> None:
    """Remove what a previous run left, so that each run starts afresh.

    A kept Alertmanager notification log would treat this run's page as already sent
    within the pager's repeat interval, and kept exporter state would continue the last run.
    """
    for stale in ("gateway.jsonl", "exporter", "prometheus", "alertmanager"):
        path = workdir / stale
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def generate_log(workdir: Path, timings: Timings) -> Path:
    path = workdir / "simulated.jsonl"
    subprocess.run([sys.executable, "-m", "llm_cost_exporter", "simulate", "--profile",
                    str(REPO / "deploy" / "demo" / "profile.yaml"), "--events", str(timings.events),
                    "--start", "2026-01-05T09:00:00Z", "--scenario", "agent-loop", "--onset", timings.onset,
                    "--seed", "3", "--output", str(path)], check=True, capture_output=True)
    return path


def render_rules(workdir: Path, timings: Timings) -> Path:
    """Render the project's rule templates with the demo's compressed windows."""
    output = workdir / "rules"
    burn = "alerts.LLMSpendBurnRateHigh"
    overrides = {"interval": timings.interval, "baseline_interval": timings.interval,
                 f"{burn}.long_window": timings.long_window, f"{burn}.short_window": timings.short_window,
                 f"{burn}.baseline_window": timings.baseline_window, f"{burn}.for": timings.alert_for,
                 f"{burn}.keep_firing_for": timings.keep_firing_for, f"{burn}.factor": 1.5}
    command = [sys.executable, "-m", "llm_cost_exporter", "rules", "--output-dir", str(output),
               "--prometheus-rule", str(workdir / "prometheusrule.yaml")]
    for path, value in overrides.items():
        command += ["--set", f"{path}={value}"]
    subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    return output / "llm-cost.rules.yml"


def alertmanager_config(exporter_url: str, pager_url: str, token_file: Path) -> dict:
    """Return the routes of deploy/alertmanager/alertmanager.yml with the demo's receivers and short waits."""
    return {
        "route": {
            "receiver": "tickets", "group_by": ["alertname", "feature"],
            "group_wait": "1s", "group_interval": "5s", "repeat_interval": "1h",
            "routes": [
                {"receiver": "llm-breaker", "matchers": ['breaker="true"'], "group_by": ["..."],
                 "group_wait": "0s", "group_interval": "5s", "repeat_interval": "1m", "continue": True},
                {"receiver": "pager", "matchers": ['severity="page"']},
            ],
        },
        "receivers": [
            {"name": "tickets"},
            {"name": "pager", "webhook_configs": [{"url": f"{pager_url}/page", "send_resolved": True}]},
            {"name": "llm-breaker", "webhook_configs": [{
                "url": f"{exporter_url}/api/v1/breaker/alerts", "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}}}]},
        ],
    }


def feed(source: Path, target: Path, speedup: float, stop: threading.Event) -> None:
    """Append the simulated lines to `target` at `speedup` times their event-time pace, stamped with now."""
    lines = source.read_bytes().splitlines()
    records = [orjson.loads(line) for line in lines]
    first = _event_time(records[0]["ts"])
    started = time.monotonic()
    with open(target, "ab") as log:
        for record in records:
            due = started + (_event_time(record["ts"]) - first) / speedup
            delay = due - time.monotonic()
            if delay > 0:
                log.flush()
                if stop.wait(delay):
                    return
            record["ts"] = round(time.time(), 3)
            log.write(orjson.dumps(record) + b"\n")
    print("[feeder] the simulated log is fully replayed; spend stays flat from here", flush=True)


def _event_time(value: str | float) -> float:
    from datetime import datetime

    return value if isinstance(value, (int, float)) else datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def breaker_open(exporter_url: str) -> dict | None:
    response = requests.get(f"{exporter_url}/api/v1/breaker/keys/key-support-prod", params={"feature": FEATURE},
                            headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"}, timeout=5)
    return response.json() if response.status_code == 429 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local demo stack (see the module docstring).")
    parser.add_argument("--workdir", type=Path, default=REPO / "build" / "demo-stack",
                        help="folder for logs, configs and data (default: build/demo-stack)")
    parser.add_argument("--fast", action="store_true",
                        help="shorter timings; exit once the page and the breaker opening are seen")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="with --fast: seconds to wait for the page and the breaker (default: 180)")
    args = parser.parse_args(argv)
    timings = FAST if args.fast else NORMAL
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    clean_workdir(workdir)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    print(f"[demo] generating the agent-loop log and rendering the rules in {workdir}", flush=True)
    simulated = generate_log(workdir, timings)
    rules = render_rules(workdir, timings)
    (workdir / "webhook.token").write_text(WEBHOOK_TOKEN + "\n")
    (workdir / "gateway.token").write_text(GATEWAY_TOKEN + "\n")

    started: list = []
    pager = Pager()
    threading.Thread(target=pager.serve_forever, name="pager", daemon=True).start()
    try:
        exporter = ExporterProcess(workdir / "exporter", {
            "state": {"path": str(workdir / "exporter" / "state.db"), "checkpoint_interval": "500ms"},
            "sources": [{"name": "gateway", "type": "file", "path": str(workdir / "gateway.jsonl"),
                         "poll_interval": "200ms"}],
            "breaker": {"enabled": True, "ttl": timings.breaker_ttl,
                        "webhook_token_file": str(workdir / "webhook.token"),
                        "gateway_token_file": str(workdir / "gateway.token")},
        }, env={"LLM_COST_USER_KEY": "demo-pseudonym-key"})
        started.append(exporter)
        alertmanager = AlertmanagerProcess(workdir / "alertmanager",
                                           alertmanager_config(exporter.url, pager.url, workdir / "webhook.token"))
        started.append(alertmanager)
        prometheus = PrometheusProcess(
            workdir / "prometheus", [PrometheusProcess.scrape_config("llm-cost-exporter", [exporter.address])],
            rule_files=[rules], alertmanagers=[alertmanager.address], scrape_interval=timings.interval,
            evaluation_interval=timings.interval)
        started.append(prometheus)

        print(f"""
[demo] running; open:
  Prometheus alerts     {prometheus.url}/classic/alerts   (or {prometheus.url}/api/v1/alerts)
  burn rate graph       {prometheus.url}/graph?g0.expr=feature%3Allm_cost_usd%3Arate{timings.short_window}%20*%203600&g0.tab=0&g0.range_input=15m
  Alertmanager          {alertmanager.url}/#/alerts
  exporter metrics      {exporter.url}/metrics
  breaker, as a gateway asks it:
    curl -s -H 'Authorization: Bearer {GATEWAY_TOKEN}' '{exporter.url}/api/v1/breaker/keys/key-support-prod?feature={FEATURE}'
  pager (webhook receiver) prints each page below.
[demo] the agent loop starts {timings.onset} into the log, about {_seconds(timings.onset) / timings.speedup:.0f}s from now
""", flush=True)
        feeder = threading.Thread(target=feed, args=(simulated, workdir / "gateway.jsonl", timings.speedup, stop),
                                  name="feeder", daemon=True)
        feeder.start()
        return watch(exporter.url, pager, stop, args.fast, args.timeout)
    finally:
        stop.set()
        for process in reversed(started):
            process.stop()
        pager.shutdown()
        pager.server_close()
        print("[demo] stopped Prometheus, Alertmanager, the exporter and the pager", flush=True)


def watch(exporter_url: str, pager: Pager, stop: threading.Event, fast: bool, timeout: float) -> int:
    """Report the page and the breaker as they happen; in fast mode return once both were seen."""
    started = time.monotonic()
    opened = False
    while not stop.is_set():
        if not opened:
            decision = breaker_open(exporter_url)
            if decision is not None:
                opened = True
                print(f"[breaker] OPEN for {decision['scope']}={decision['key']} until {decision['reopens_at']}: "
                      f"{decision['reason']}", flush=True)
        if fast and opened and pager.received.is_set():
            print(f"[demo] page and breaker seen after {time.monotonic() - started:.0f}s", flush=True)
            return 0
        if fast and time.monotonic() - started > timeout:
            print(f"[demo] timed out after {timeout:.0f}s: page received={pager.received.is_set()}, "
                  f"breaker open={opened}", flush=True)
            return 1
        stop.wait(1.0)
    return 0


def _seconds(duration: str) -> float:
    from llm_cost_exporter.config.durations import parse_duration

    return parse_duration(duration)


if __name__ == "__main__":
    sys.exit(main())
