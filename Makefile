# healthmon: `make run` starts everything on this machine; `make test` runs the suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

# The suite runs against real PostgreSQL and Redis (see README); override to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/healthmon
TEST_BROKER_URL ?= redis://127.0.0.1:6379/0
# `make run` is a single-user install that watches its own machine and LAN (its demo monitor
# checks healthmon's /live on 127.0.0.1): it blocks only cloud metadata
# (lib/outbound.py METADATA_NETWORKS), not the multi-tenant default that blocks private ranges.
BLOCKED_NETWORKS ?= 169.254.0.0/16,fe80::/10,100.100.100.200/32,168.63.129.16/32,fd00:ec2::254/128
# The one place to choose the ports: `make run WEB_PORT=8080 FLOWER_PORT=5556` (or export them).
# SITE_URL's default, gunicorn's bind and the demo monitor follow WEB_PORT.
WEB_PORT ?= 8000
FLOWER_PORT ?= 5555
RUN_ENV := DEBUG=true BLOCKED_NETWORKS="$(BLOCKED_NETWORKS)" WEB_PORT=$(WEB_PORT) \
	FLOWER_PORT=$(FLOWER_PORT) PATH="$(abspath $(VENV))/bin:$$PATH"

.PHONY: install install-dev run manage migrate demo check-test-tools test lint format bench bench-smoke bench-kinds bench-ceiling bench-api bench-faults bench-heartbeat bench-maintenance bench-storm clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

migrate: install
	$(RUN_ENV) $(PY) manage.py migrate --noinput

demo: migrate
	$(RUN_ENV) $(PY) manage.py demo_setup

# Flower's login for `make run`: generated once into var/ (never a well-known password).
FLOWER_AUTH_FILE := var/flower-basic-auth
# prometheus_client multiprocess files of web, worker and beat; emptied before they start.
METRICS_DIR := var/prometheus

$(FLOWER_AUTH_FILE):
	mkdir -p $(@D)
	umask 077 && $(PYTHON) -c 'import secrets; print("admin:" + secrets.token_urlsafe(18))' > $@

## Install, migrate, create the demo login and start web, worker, beat and Flower; once they
## are up, one block says where everything is (healthmon/startup.py).
run: demo $(FLOWER_AUTH_FILE)
	@$(RUN_ENV) $(PY) -m healthmon.startup ports
	$(RUN_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0
	rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	$(RUN_ENV) $(PY) -m healthmon.startup banner & \
	$(RUN_ENV) PROMETHEUS_MULTIPROC_DIR=$(abspath $(METRICS_DIR)) \
	FLOWER_BASIC_AUTH=$${FLOWER_BASIC_AUTH:-$$(cat $(FLOWER_AUTH_FILE))} \
	$(VENV)/bin/honcho start -f Procfile

## Any manage.py command in the environment `make run` uses: make manage ARGS="healthmon_status".
manage: install
	$(RUN_ENV) $(PY) manage.py $(ARGS)

# What the suite needs beyond Python, as command:Debian-package (CI's .ci/run installs them).
# Chromium only when the browser tests run (PYTEST_ARGS="-m 'not browser'" leaves them out).
TEST_TOOLS := promtool:prometheus $(if $(findstring not browser,$(PYTEST_ARGS)),,chromium:chromium)

# Evaluated only when check-test-tools runs ($(error) prints one line, then make stops).
missing_test_packages = $(strip $(foreach tool,$(TEST_TOOLS),$(if $(shell command -v \
	$(firstword $(subst :, ,$(tool))) 2>/dev/null),,$(lastword $(subst :, ,$(tool))))))

## Stop in one line, naming the packages, when a tool the suite needs is missing.
check-test-tools:
	$(if $(missing_test_packages),$(error make test needs the Debian package(s) \
	$(missing_test_packages): sudo apt-get install -y $(missing_test_packages)))

## The whole test suite, against PostgreSQL and Redis.
test: check-test-tools install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## ruff (lint and format), the import contracts of the layers, then mypy with the Django and
## DRF plugins (pyproject.toml: strict on the pure cores and services, a baseline elsewhere).
## The plugins import the settings, which want DEBUG or a SECRET_KEY.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DEBUG=true $(VENV)/bin/mypy .


format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## Scale benchmark (~5 min): 10,000 monitors at 30 s on the real stack; see bench/RESULTS.md.
## Its own database <DATABASE_URL name>_scale and a private redis-server; BENCH_ARGS adds options.
bench: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) -m bench.scale $(BENCH_ARGS)

## The same harness with 20 monitors and a 10 s window (~40 s); also run by the test suite.
bench-smoke: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) -m bench.scale --monitors 20 \
		--interval 2 --window 10 --warmup 2 --flip 3 --ceiling-seconds 1 --ceiling-concurrency 10

## Each monitor kind (http tcp dns tls icmp api) on ONE check worker (~6 min): checks/s and CPU
## per check beside the raw clients of the same run; its own database <name>_kinds.
bench-kinds: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) -m bench.kinds $(BENCH_ARGS)

## The ceiling by ramp (< 10 min): raise the check rate until lag p99 > 2 s or checks drop,
## for one and two check workers; prints the highest sustained rate and its raw-client ratios.
bench-ceiling: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) -m bench.ceiling_ramp $(BENCH_ARGS)

## API latency under load (wrk): 10,000 monitors and 10 million check rows (seeded once).
bench-api: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) -m bench.api_load $(BENCH_API_ARGS)

## Heartbeat ingest (~3 min, wrk): 10,000 heartbeat monitors, /ping at 1,000/s for 30 s, a
## ramp to the ceiling, and a trivial WSGI app in the same gunicorn as the raw reference.
bench-heartbeat: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) -m bench.heartbeat $(BENCH_HEARTBEAT_ARGS)

## Fault injection (~4 min): worker kill -9, redis kill and restart, PostgreSQL crash and a
## receiver outage mid-delivery, on a private PostgreSQL cluster and redis-server it starts
## itself; prints lost/duplicated/out-of-order/stuck counts, exits 1 unless all are 0.
bench-faults: install-dev
	$(PY) -m bench.faults $(BENCH_FAULTS_ARGS)

## Maintenance (~1.5 min): 100 failing monitors inside a maintenance window send nothing;
## still down after it, they alert within one interval + 5 s of its end. Its own database
## <DATABASE_URL name>_maintenance and a private redis-server; exits 1 unless both hold.
bench-maintenance: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) -m bench.maintenance $(BENCH_MAINTENANCE_ARGS)

## Alert storm (~3 min): 1,000 monitors depending on one gateway, the gateway's outage;
## prints the messages one webhook channel received and how every incident is accounted for.
bench-storm: install-dev
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) -m bench.storm $(BENCH_STORM_ARGS)

clean:
	rm -rf var staticfiles test-artifacts .pytest_cache
