"""`make demo` in its shortened form: the page arrives and the breaker opens."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest

from .manifests import REPO

pytestmark = pytest.mark.slow


def test_demo_pages_and_opens_breaker(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "deploy" / "demo" / "demo.py"), "--fast",
                             "--workdir", str(tmp_path), "--timeout", "150"],
                            capture_output=True, text=True, timeout=200, cwd=REPO)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"^\[breaker\] OPEN for feature=support-agent until ", output, re.MULTILINE), output
    assert "[pager] FIRING: LLMSpendBurnRateHigh feature='support-agent' severity=page" in output
    assert "feature='search'" not in output
    assert "[demo] stopped Prometheus, Alertmanager, the exporter and the pager" in output

    # Every URL the demo printed is closed again.
    ports = {int(port) for port in re.findall(r"http://127\.0\.0\.1:(\d+)/", output)}
    assert len(ports) == 3
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open after the demo stopped"


def test_demo_stops_on_interrupt(tmp_path):
    import signal
    import time

    process = subprocess.Popen([sys.executable, str(REPO / "deploy" / "demo" / "demo.py"), "--workdir", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    lines = []
    deadline = time.monotonic() + 60
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("[demo] the agent loop starts") or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGINT)
        remainder, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    output = "".join(lines) + remainder
    assert process.returncode == 0, output
    assert "Prometheus alerts     http://127.0.0.1:" in output
    assert output.rstrip().endswith("[demo] stopped Prometheus, Alertmanager, the exporter and the pager")


def test_demo_starts_afresh(tmp_path):
    """A kept Alertmanager notification log made a second run within an hour miss its page."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo", REPO / "deploy" / "demo" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = demo  # its dataclasses look the module up while it runs
    try:
        spec.loader.exec_module(demo)
    finally:
        del sys.modules[spec.name]
    (tmp_path / "alertmanager" / "data").mkdir(parents=True)
    (tmp_path / "alertmanager" / "data" / "nflog").write_bytes(b"sent")
    (tmp_path / "exporter").mkdir()
    (tmp_path / "exporter" / "state.db").write_bytes(b"state")
    (tmp_path / "gateway.jsonl").write_text("{}\n")
    (tmp_path / "simulated.jsonl").write_text("kept\n")

    demo.clean_workdir(tmp_path)

    assert sorted(path.name for path in tmp_path.iterdir()) == ["simulated.jsonl"]
