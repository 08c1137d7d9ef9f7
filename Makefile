# CIR — the two commands a new user needs: `make run` and `make test`.
# Each sets itself up: a virtualenv in .venv, the locked packages, the database.
#
# Dependencies: requirements.in (production) and requirements-dev.in (tools) are the
# hand-kept lists; requirements.txt and requirements-dev.txt are the locks compiled from
# them by `make lock`. Everything installs from the locks (make, the Dockerfile, CI).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
LOCK_FLAGS = --python-version 3.11 --custom-compile-command "make lock" -q $(if $(UPGRADE),--upgrade)

.PHONY: run test install install-dev lint lock smoke bench diagram screenshots worker beat clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Start the app with demo data at http://$(HOST):$(PORT) (SQLite and in-process tasks
## unless DATABASE_URL / CELERY_BROKER_URL say otherwise).
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo ""
	@echo "  CIR is starting at http://$(HOST):$(PORT)/  (admin console: /admin/, API docs: /api/docs/)"
	@echo ""
	$(PY) manage.py runserver $(HOST):$(PORT)

## Run the whole test suite (SQLite by default; PostgreSQL/Redis when configured), one
## process per core (TEST_PROCESSES=0: all in this one, as plain pytest does), handed out
## two tests at a time so that the long browser tests spread over the processes.
TEST_PROCESSES ?= auto
test: install-dev
	$(PY) -m pytest -q -n $(TEST_PROCESSES) --maxschedchunk 2

## Recompile the locks from requirements*.in (UPGRADE=1 moves every pin to its newest).
lock: install-dev
	$(VENV)/bin/uv pip compile requirements.in -o requirements.txt $(LOCK_FLAGS)
	$(VENV)/bin/uv pip compile requirements-dev.in -o requirements-dev.txt $(LOCK_FLAGS)

## The production stack end to end: a fresh virtualenv from requirements.txt only, the
## compose file's web, worker and beat commands, PostgreSQL and Redis (see docs/operations.md).
smoke: install-dev
	$(PY) -m smoke

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## Benchmarks on PostgreSQL; SCALE=large for 100 000 KPIs.
bench: install-dev
	$(PY) -m bench.run

## Retake docs/screenshots/ (the browser tests; `make test` writes them to a temporary folder).
screenshots: install-dev
	CIR_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PY) -m pytest -q tests/e2e/test_browser.py

## Redraw docs/workflow.svg from the state machine in the code.
diagram: install
	$(PY) manage.py workflow_diagram

worker: install
	$(VENV)/bin/celery -A cir worker -l info

beat: install
	$(VENV)/bin/celery -A cir beat -l info

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles .pytest_cache
