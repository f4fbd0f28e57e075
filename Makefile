# Thin wrappers over the `fraudlake` CLI and pytest. Each target does its own set-up.
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
UV := uv run --frozen --extra dev

.PHONY: help setup demo test test-unit test-integration test-e2e chaos lint typecheck bench stack-up stack-down clean

help:  ## This list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup:  ## Python env + every service built into ~/.cache/fraudlake (idempotent)
	bash scripts/bootstrap.sh
	$(UV) fraudlake stack install

demo: setup  ## The end-to-end demo on the local embedded stack
	$(UV) fraudlake demo $(ARGS)

test: setup  ## The whole suite: unit, integration (real services), e2e
	$(UV) pytest tests $(ARGS)

test-unit: ## Fast tests, no services
	bash scripts/bootstrap.sh
	$(UV) pytest tests/unit -q $(ARGS)

test-integration: setup  ## Integration tests against real local services
	$(UV) pytest tests/integration $(ARGS)

test-e2e: setup  ## The demo path at small scale, from a copy of the repository
	$(UV) pytest tests/e2e $(ARGS)

chaos: setup  ## The fault matrix: kill each moving part at 10/50/90% of a run → bench/results/chaos.json
	$(UV) pytest tests/chaos -m chaos $(ARGS)

lint:  ## ruff + mypy
	$(UV) ruff check .
	$(UV) ruff format --check .
	bash scripts/typecheck.sh

bench: setup  ## Benchmarks: print ratios, write bench/results/*.json
	for b in bench/*.py; do $(UV) python $$b || exit 1; done

stack-up: setup  ## Start the local stack (Kafka, Connect, MinIO, kube-apiserver, ...)
	$(UV) fraudlake stack up

stack-down:  ## Stop every process of the local stack
	$(UV) fraudlake stack down

clean:  ## Remove the local stack's run folder (not the ~/.cache/fraudlake builds)
	$(UV) fraudlake stack down || true
	rm -rf .fraudlake
