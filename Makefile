# Makefile for llm-cost-exporter. `make help` lists the targets.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXPORTER := $(BIN)/llm-cost-exporter
SHARED ?= ../shared
PYTEST_ARGS ?=
LISTEN ?= 127.0.0.1:9841

.DEFAULT_GOAL := help

.PHONY: help venv run sample test test-fast lint generate bench rules dashboards-json dashboards manifests demo backtest clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed ## Create .venv and install the package with its test dependencies

run: venv ## Run the exporter on a live simulated gateway log (Ctrl-C stops it; LISTEN=host:port)
	$(BIN)/python scripts/run_local.py --listen $(LISTEN)

sample: venv ## Regenerate examples/gateway-sample.jsonl
	$(EXPORTER) simulate --seed 1 --start 2026-01-05T09:00:00Z --events 40 --output examples/gateway-sample.jsonl

test: venv ## Run the whole test suite (needs prometheus, promtool, prometheus-alertmanager, amtool)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: venv ## Run the tests that start no Prometheus or Alertmanager process
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: venv ## Check the config example, that generated files are current, and the rules with promtool
	$(BIN)/python -m compileall -q exporter dashboards benchmarks scripts
	$(EXPORTER) check-config examples/config.yaml
	$(EXPORTER) rules --check
	$(EXPORTER) dashboards --output tests/dashboards/golden --check
	$(BIN)/python deploy/kubernetes/render.py --check
	promtool check rules alert_rules/rendered/llm-cost.rules.yml

generate: venv ## Regenerate the rendered rules, the dashboard snapshots, their ConfigMap and the overlays
	$(EXPORTER) rules
	$(EXPORTER) dashboards --output tests/dashboards/golden
	$(BIN)/python deploy/kubernetes/render.py

bench: venv ## Run the benchmarks and print their results (recorded in benchmarks/README.md)
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_formats.py

rules: venv ## Render alert_rules/ into alert_rules/rendered/ and deploy/, then the overlays
	$(EXPORTER) rules
	$(MAKE) --no-print-directory manifests

dashboards-json: venv ## Generate the Grafana dashboards into build/dashboards/ and their ConfigMap
	$(EXPORTER) dashboards --output build/dashboards
	$(MAKE) --no-print-directory manifests

dashboards: venv ## Generate the dashboards and push them to GRAFANA_URL
	$(EXPORTER) dashboards --output build/dashboards --push

manifests: venv ## Render the Kubernetes overlays into deploy/kubernetes/rendered/ (needs kubectl)
	$(BIN)/python deploy/kubernetes/render.py

demo: venv ## Run the local demo stack: a runaway agent loop pages and opens the breaker (Ctrl-C stops it)
	$(BIN)/python deploy/demo/demo.py

backtest: venv ## Replay every cost failure scenario through the alert rules (about 5-7 min; build/backtest/)
	$(EXPORTER) backtest --jobs 2 --output build/backtest

clean: ## Remove build outputs (keeps .venv)
	rm -rf build .pytest_cache
