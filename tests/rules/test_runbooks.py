"""Every alert has a runbook page with the sections on-call needs, and every query in it parses."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from .conftest import RENDERED_RULES, RUNBOOKS, require_tool

SECTIONS = ("## What it means", "## First three queries", "## Likely causes", "## Silence it safely")


def alert_names() -> list[str]:
    groups = yaml.safe_load(RENDERED_RULES.read_text(encoding="utf-8"))["groups"]
    return sorted({rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule})


@pytest.mark.parametrize("alert", alert_names())
def test_runbook_page(alert):
    page = RUNBOOKS / f"{alert}.md"
    assert page.is_file(), f"missing runbook {page}"
    text = page.read_text(encoding="utf-8")
    assert text.startswith(f"# {alert}\n")
    for section in SECTIONS:
        assert section in text, f"{page.name} lacks {section}"
    queries = text.split("## First three queries", 1)[1].split("## Likely causes", 1)[0]
    assert len(re.findall(r"^\d\. ", queries, flags=re.MULTILINE)) == 3
    assert f"alertname={alert}" in text, "the silence example must name the alert"


def test_runbook_index_lists_every_alert():
    index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    for alert in alert_names():
        assert f"[{alert}.md]({alert}.md)" in index


def test_runbook_queries_parse(tmp_path):
    """Check every PromQL expression of the query sections with promtool's parser."""
    rules = []
    for page in sorted(RUNBOOKS.glob("LLM*.md")):
        section = page.read_text(encoding="utf-8").split("## First three queries", 1)[1].split("##", 1)[0]
        for span in re.findall(r"`([^`]+)`", section.replace("\n   ", " ")):
            if span.startswith(("kubectl", "llm-cost-exporter", "offset")) or not re.search(r"[({]", span):
                continue
            rules.append({"record": f"runbook:query:{len(rules)}", "expr": span})
    assert len(rules) >= 30
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "runbook-queries", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run([require_tool("promtool"), "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
