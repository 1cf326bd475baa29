# Server-side tagging on Google Cloud. `make run` and `make test` are the two set-up commands;
# every target installs what it needs. Feature areas add targets in mk/*.mk.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

# Extra prerequisites of `make test` (browsers, tool venvs), appended by mk/*.mk.
TEST_PREREQS :=

.DEFAULT_GOAL := help
-include mk/*.mk

.PHONY: help setup run test lint audit lock tools-check clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# The lock files are hashed (`make lock`): pip refuses any file whose hash is not in them.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed tools-check ## create the virtual environment and check the local tools

tools-check:
	@command -v gcloud >/dev/null || { echo "gcloud is missing: install the Google Cloud CLI with the pubsub-emulator component" >&2; exit 1; }
	@command -v java >/dev/null || { echo "java is missing: the Pub/Sub emulator needs Java 17+" >&2; exit 1; }

run: setup ## the local stack in the foreground: emulator, collect on :8080, every enabled vendor
	$(PY) -m devstack run

test: setup lint audit $(TEST_PREREQS) ## lint, audit, then every test (unit, golden, integration over the real emulator, infra)
	$(PY) -m pytest

lint: setup ## ruff (lint and format check) and mypy --strict on shared/ and functions/ (pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

audit: setup ## pip-audit the hashed lock files (a known vulnerability fails; offline is reported, not fatal)
	$(PY) tools/audit_deps.py

# Edit requirements.in / requirements-dev.in, then `make lock`: one universal resolution
# (Python 3.11 here, 3.12 in the cloud) with the hashes of every published file.
lock: setup ## re-resolve requirements*.in into the hashed requirements.txt and requirements-dev.txt
	$(VENV)/bin/uv pip compile --universal --python-version 3.11 --generate-hashes --quiet requirements.in -o requirements.txt
	$(VENV)/bin/uv pip compile --universal --python-version 3.11 --generate-hashes --quiet requirements-dev.in -c requirements.txt -o requirements-dev.txt

clean: ## remove the virtual environment and local run logs
	rm -rf $(VENV) .run .pytest_cache

