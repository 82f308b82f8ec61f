# fraudstream task runner: humans and CI call the same targets.
# `make help` lists them.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages the stack and the tests need; installed when missing and root.
SYSTEM_PACKAGES_RUN := postgresql maven openjdk-17-jdk-headless
SYSTEM_PACKAGES_TEST := $(SYSTEM_PACKAGES_RUN) chromium
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help run test test-unit test-integration lint format venv system-deps system-deps-test jvm stack-up stack-down status clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

run: venv system-deps jvm ## the whole system in the foreground; Ctrl-C stops it
	$(VENV)/bin/fraudstream run

test: venv system-deps-test jvm lint ## the whole suite: lint, unit, integration (starts its own stack)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-unit: venv ## unit tests only (no services)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: venv system-deps-test jvm ## integration tests on a throwaway stack with free ports
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

lint: venv ## ruff (lint + format check) and mypy --strict on src/
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy

format: venv ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix src tests
	$(VENV)/bin/ruff format src tests

venv: $(STAMP) ## the virtual environment with pinned dependencies

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

system-deps: venv ## install PostgreSQL, Maven and Java 17 from Debian when missing
	@$(PY) -m fraudstream.platform.sysdeps $(SYSTEM_PACKAGES_RUN)

system-deps-test: venv ## the above plus Chromium for the browser test
	@$(PY) -m fraudstream.platform.sysdeps $(SYSTEM_PACKAGES_TEST)

jvm: venv ## fetch the Kafka broker and Flink connector jars (idempotent)
	$(VENV)/bin/fraudstream jvm fetch

stack-up: venv system-deps jvm ## start the local stack in the background
	$(VENV)/bin/fraudstream stack up

stack-down: venv ## stop the local stack
	$(VENV)/bin/fraudstream stack down

status: venv ## show each component and its health
	$(VENV)/bin/fraudstream stack status

clean: ## stop the stack and remove runtime data and the virtual environment
	-test -x $(VENV)/bin/fraudstream && $(VENV)/bin/fraudstream stack down --purge
	rm -rf .fraudstream $(VENV) .pytest_cache .mypy_cache .ruff_cache
