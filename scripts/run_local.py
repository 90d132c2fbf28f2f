"""Run the exporter on a live simulated workload: what `make run` does.

Writes one simulated day of gateway history ending now, keeps appending live traffic,
and serves it with examples/config.yaml (listening on --listen) until Ctrl-C or SIGTERM.
Each run starts afresh in build/demo/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.request import urlopen

import yaml

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "build" / "demo"
CONFIG = REPO / "examples" / "config.yaml"
DEFAULT_LISTEN = "127.0.0.1:9841"
LIVE_RATE = "5"  # log lines per second


def exporter(*args: str) -> list[str]:
    return [sys.executable, "-m", "llm_cost_exporter", *args]


def wait_ready(server: subprocess.Popen, listen: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urlopen(f"http://{listen}/readyz", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def write_config(listen: str) -> Path:
    """Copy examples/config.yaml into build/demo/ with server.listen set to `listen`."""
    config = yaml.safe_load(CONFIG.read_text())
    config.setdefault("server", {})["listen"] = listen
    path = DEMO / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help=f"host:port to serve on (default: {DEFAULT_LISTEN})")
    listen = parser.parse_args().listen

    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir(parents=True)
    config = write_config(listen)
    start = (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"writing one simulated day of history from {start} to {DEMO / 'gateway-history.jsonl'}", flush=True)
    subprocess.run(exporter("simulate", "--seed", "1", "--start", start, "--days", "1",
                            "--output", str(DEMO / "gateway-history.jsonl")), check=True, cwd=REPO)

    env = {**os.environ, "LLM_COST_USER_KEY": os.environ.get("LLM_COST_USER_KEY", "local-demo-key")}
    children = [
        subprocess.Popen(exporter("simulate", "--rate", LIVE_RATE, "--output", str(DEMO / "gateway.jsonl")),
                         cwd=REPO),
        subprocess.Popen(exporter("serve", "--config", str(config)), cwd=REPO, env=env),
    ]
    stopping = False
    interrupted = False  # stopped by SIGINT, which a terminal's Ctrl-C sends to the children too

    def stop(signum: int, _frame) -> None:
        nonlocal stopping, interrupted
        stopping = True
        interrupted = signum == signal.SIGINT

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        if wait_ready(children[1], listen):
            print(f"\nllm-cost-exporter is serving http://{listen}/metrics (Ctrl-C stops it); "
                  "it reads the day of history in its first seconds\n", flush=True)
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.2)
    finally:
        # After Ctrl-C, give the children a moment to stop on their own SIGINT, so that each
        # logs one stop. Then send SIGTERM to those still running.
        deadline = time.monotonic() + 5
        while interrupted and time.monotonic() < deadline and any(child.poll() is None for child in children):
            time.sleep(0.1)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        codes = [child.wait(timeout=30) for child in children]
    failed = [code for code in codes if code not in (0, -signal.SIGTERM, -signal.SIGINT)]
    return 0 if stopping and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
