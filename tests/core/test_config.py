from __future__ import annotations

import subprocess
import sys

import pytest

from llm_cost_exporter.config import ConfigError, load_config, parse_config


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value.errors


def test_empty_config_uses_defaults():
    config = parse_config("")
    assert config.server.listen == "127.0.0.1:9841"
    assert config.labels.attribution == ["feature", "intent", "cohort", "cost_center", "product_line"]
    assert config.requests.idle_timeout == 120.0
    assert config.cohorts.windows == [3600.0, 86400.0, 604800.0]


def test_example_config_is_valid(repo_root):
    config = load_config(repo_root / "examples" / "config.yaml")
    assert config.sources


def test_design_contract_example_is_valid():
    config = parse_config("""
server:
  listen: "127.0.0.1:9841"
state:
  path: /var/lib/llm-cost-exporter/state.db
sources:
  - name: gateway
    type: file
    path: /var/log/gateway/*.jsonl
    format: native
    start_at: beginning
    labels: {feature: metadata.feature}
labels:
  attribution: [feature, intent, cohort, cost_center, product_line]
  limits: {intent: 200, feature: 100}
pricing:
  aliases: {prod-gpt4o-deployment: gpt-4o}
  overrides:
    - {provider: openai, model: gpt-4o, input: 2.50, cache_read: 1.25, cache_write: 0, output: 10.00}
requests:
  idle_timeout: 120s
cohorts:
  windows: [1h, 24h, 7d]
  top_k: 10
  pseudonymize_key_env: LLM_COST_USER_KEY
budgets:
  - {name: search-monthly, match: {cost_center: search}, period: month, amount_usd: 20000, timezone: UTC}
""")
    assert config.sources[0].labels == {"feature": "metadata.feature"}
    assert config.labels.limit("intent") == 200
    assert config.labels.limit("cohort") == config.labels.default_limit
    assert config.budgets[0].amount_usd == 20000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources: [{name: a, type: file}]", "sources[0].path: missing; this key is required"),
        ("sources: [{name: a, type: ftp, path: x}]", "sources[0]: unknown source type 'ftp'"),
        ("sources: [{name: a, path: x}]", "sources[0]: missing type"),
        ("sources: [{name: a, type: file, path: x, start_at: middle}]", "sources[0].start_at:"),
        ("sources: [{name: a, type: file, path: x}, {name: a, type: file, path: y}]",
         "source names must be unique; repeated: a"),
        ("server: {listen: nowhere}", "server.listen: invalid listen address 'nowhere'"),
        ("server: {listen: '127.0.0.1:99999'}", "server.listen: invalid listen address"),
        ("requests: {idle_timeout: soon}", "requests.idle_timeout: invalid duration 'soon'"),
        ("requests: {idle_timeout: -5}", "requests.idle_timeout: invalid duration -5"),
        ("cohorts: {windows: [1h, 7x]}", "cohorts.windows[1]: invalid duration '7x'"),
        ("labels: {attribution: [model]}", "labels.attribution: label 'model' is set by the exporter itself"),
        ("labels: {attribution: [bad-name]}", "labels.attribution: invalid label name 'bad-name'"),
        ("labels: {limits: {intent: 0}}", "labels.limits.intent:"),
        ("pricing: {overrides: [{provider: openai, model: gpt-4o, input: -1, output: 1}]}",
         "pricing.overrides[0].input:"),
        ("pricing: {overrides: [{provider: openai, model: gpt-4o, input: 1}]}",
         "pricing.overrides[0].output: missing"),
        ("budgets: [{name: b, period: year, amount_usd: 5}]", "budgets[0].period:"),
        ("budgets: [{name: b, period: month, amount_usd: 5, timezone: Mars/Base}]",
         "budgets[0].timezone: unknown time zone 'Mars/Base'"),
        ("budgets: [{name: b, period: month, amount_usd: 5, match: {team: x}}]",
         "budget 'b' matches on team, which is not an attribution label"),
        ("bogus: 1", "bogus: unknown key; check its spelling and indentation"),
        ("- just\n- a list", "the top level must be a mapping"),
        ("server: {listen: [", "invalid YAML at line 1, column 19"),
    ],
)
def test_invalid_config_names_key_path(text, expected):
    errors = errors_of(text)
    assert any(expected in error for error in errors), errors


def test_all_errors_reported_together():
    errors = errors_of("server: {listen: x}\nrequests: {idle_timeout: never}\nbogus: 1")
    assert len(errors) == 3


def test_unreadable_file_reported(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "missing.yaml")
    assert "cannot read the file" in str(caught.value)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llm_cost_exporter", *args], capture_output=True, text=True,
                          timeout=60)


def test_check_config_accepts_valid_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("sources: [{name: gw, type: file, path: /tmp/x.jsonl}]\n")
    result = run_cli("check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert "valid (1 source(s), 0 budget(s))" in result.stdout


def test_check_config_prints_errors(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("sources: [{name: gw, type: file}]\nserver: {listen: x}\n")
    result = run_cli("check-config", str(path))
    assert result.returncode == 1
    assert "sources[0].path: missing; this key is required" in result.stderr
    assert "server.listen: invalid listen address 'x'" in result.stderr


def test_check_config_rejects_unknown_format(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("sources: [{name: gw, type: file, path: /x, format: csv}]\n")
    result = run_cli("check-config", str(path))
    assert result.returncode == 1
    assert "sources[0].format: unknown format 'csv'" in result.stderr


def test_cross_reference_reported_with_field_errors():
    errors = errors_of("sources: [{name: a, type: file}]\n"
                       "budgets: [{name: b, period: month, amount_usd: 5, match: {cost_centre: x}}]\n")
    assert "sources[0].path: missing; this key is required" in errors
    assert any(error.startswith("budgets[0].match: cost_centre is not an attribution label") for error in errors)


def test_check_config_warns_without_sources(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("sources: []\n")
    result = run_cli("check-config", str(path))
    assert result.returncode == 0
    assert "no sources are configured" in result.stderr


def test_check_config_reads_named_files(tmp_path):
    (tmp_path / "empty.token").write_text("\n")
    (tmp_path / "web.yml").write_text("basic_auth_users: {admin: not-a-bcrypt-hash}\n")
    path = tmp_path / "config.yaml"
    path.write_text(f"""
server: {{web_config_file: "{tmp_path / 'web.yml'}"}}
breaker:
  enabled: true
  webhook_token_file: "{tmp_path / 'missing.token'}"
  gateway_token_file: "{tmp_path / 'empty.token'}"
""")
    result = run_cli("check-config", str(path))
    assert result.returncode == 1
    assert "server.web_config_file:" in result.stderr
    assert "breaker.webhook_token_file: cannot read the breaker token file" in result.stderr
    assert "breaker.gateway_token_file: the breaker token file" in result.stderr
    assert "is empty" in result.stderr


def test_check_config_warns_unmatched_path(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(f'sources: [{{name: gw, type: file, path: "{tmp_path}/logs/*.jsonl"}}]\n')
    result = run_cli("check-config", str(path))
    assert result.returncode == 0
    assert f"sources[0].path: no file matches {tmp_path}/logs/*.jsonl yet" in result.stderr


def test_invalid_value_named_in_message():
    errors = errors_of("budgets: [{name: b, period: month, amount_usd: -5}]")
    assert "budgets[0].amount_usd: Input should be greater than 0 (got -5)" in errors
