# Meva. `make run` sets up from nothing and runs the main job on bundled data (SQLite);
# `make test` runs the whole suite. See README.md.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ADDR ?= 127.0.0.1:8000
CHROMIUM := /usr/bin/chromium

.DEFAULT_GOAL := run
.PHONY: run bytecode test lint admin bench bench-exchange sandbox paper chaos concurrency stack browser clean distclean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamp files: reinstall only when the requirement files change.
$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The project's own modules compiled to bytecode once (pip does it for the dependencies).
# Without it, a shell that sets PYTHONDONTWRITEBYTECODE (as many CI images and this Dockerfile
# do) makes every process compile ~100 modules again at start-up: ~0.1 s a command.
# compileall skips what is up to date, so this costs ~0.1 s after the first time.
APP_PACKAGES := meva trading ledger replay api
bytecode: $(VENV)/.installed
	$(PY) -m compileall -q -j 0 $(APP_PACKAGES)

run: $(VENV)/.installed bytecode
	$(PY) manage.py migrate --noinput
	$(PY) manage.py import_dataset data/sample/usdt-5m --name sample-usdt-5m
	$(PY) manage.py import_dataset data/sample/try-1m --name sample-try-1m
	$(PY) manage.py backtest --dataset sample-usdt-5m
	@echo
	@echo "Done. To browse the results in the admin:"
	@echo "  make admin      # creates/updates superuser 'admin' (password: ADMIN_PASSWORD or a printed one)"
	@echo "  then open http://$(ADDR)/admin/"

test: $(VENV)/.installed-dev $(CHROMIUM)
	$(PY) -m pytest $(PYTEST_ARGS)

# The browser tests (tests/browser) drive Debian's chromium through playwright (from PyPI,
# in requirements-dev.txt); no browser is downloaded. Installs the package when it is missing
# (needs root or sudo and Debian's package archive).
browser: $(CHROMIUM)
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "error: $(CHROMIUM) is missing: install Debian's chromium package" >&2; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q chromium || { \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q && \
		$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q chromium; }

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit -q -r $(APP_PACKAGES) --severity-level medium

# Creates or updates the superuser "admin"; the password comes from ADMIN_PASSWORD, or is
# generated and printed once. Then serves the admin on $(ADDR).
define ADMIN_SCRIPT
import os, secrets
from django.contrib.auth import get_user_model
password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
user, created = get_user_model().objects.get_or_create(username="admin")
user.is_staff = user.is_superuser = user.is_active = True
user.set_password(password)
user.save()
print(("created" if created else "updated") + " superuser 'admin'")
if not os.environ.get("ADMIN_PASSWORD"):
    print("generated password: " + password)
endef
export ADMIN_SCRIPT

admin: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	@$(PY) manage.py shell --no-imports -c "$$ADMIN_SCRIPT"
	@echo "admin: http://$(ADDR)/admin/  (Ctrl-C to stop)"
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(PY) manage.py runserver $(ADDR)

bench: $(VENV)/.installed-dev
	$(PY) bench/backtest_throughput.py $(BENCH_ARGS)

# Exchange adapter: sandbox requests/s over loopback, then the REST client's own overhead.
bench-exchange: $(VENV)/.installed-dev
	$(PY) bench/sandbox_throughput.py
	$(PY) bench/client_overhead.py

# A BTCTurk-compatible exchange on http://127.0.0.1:8765 replaying the bundled TRY sample
# (one 1-minute bar per second); it prints the BTCTURK_* variables to export.
SANDBOX_ARGS ?= --speed 60
sandbox: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py sandbox_exchange --dataset data/sample/try-1m $(SANDBOX_ARGS)

# Offline paper + live-mode demo against the sandbox exchange on a throwaway SQLite database.
PAPER_DB := var/paper-demo.sqlite3
PAPER_ARGS ?=
paper: $(VENV)/.installed
	mkdir -p var && rm -f $(PAPER_DB)
	DATABASE_URL=sqlite:///$(CURDIR)/$(PAPER_DB) REDIS_URL= $(PY) manage.py migrate --noinput -v0
	DATABASE_URL=sqlite:///$(CURDIR)/$(PAPER_DB) REDIS_URL= LOG_LEVEL=WARNING $(PY) manage.py paper_demo $(PAPER_ARGS)

# The fault campaign (trading/services/chaos.py) on a throwaway SQLite database: seeded paper and
# live-mode scenarios against the sandbox under mixed faults; exits 1 on any invariant violation.
CHAOS_DB := var/chaos.sqlite3
CHAOS_ARGS ?= --scenarios 50 --seed 1
chaos: $(VENV)/.installed
	mkdir -p var && rm -f $(CHAOS_DB)
	DATABASE_URL=sqlite:///$(CURDIR)/$(CHAOS_DB) REDIS_URL= $(PY) manage.py migrate --noinput -v0
	DATABASE_URL=sqlite:///$(CURDIR)/$(CHAOS_DB) REDIS_URL= LOG_LEVEL=ERROR $(PY) manage.py chaos $(CHAOS_ARGS) 2>var/chaos.log

# Two workers and two beats on one Redis (its own, port 6391), restarted mid-run, against the
# local PostgreSQL (database meva_concurrency) and a sandbox exchange: .ci/concurrency
concurrency: $(VENV)/.installed
	.ci/concurrency

# The production stack natively (no Docker daemon needed): migrations and collectstatic once,
# then the Procfile's web (gunicorn + whitenoise), worker and beat under honcho, against the
# local PostgreSQL and Redis (override STACK_DATABASE_URL / STACK_REDIS_URL). Ctrl-C stops all.
STACK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/meva_stack
STACK_REDIS_URL ?= redis://127.0.0.1:6379/2
STACK_ADDR ?= 127.0.0.1:8000
stack: $(VENV)/.installed-dev
	DATABASE_URL=$(STACK_DATABASE_URL) $(PY) manage.py ensure_database
	DATABASE_URL=$(STACK_DATABASE_URL) REDIS_URL=$(STACK_REDIS_URL) $(PY) manage.py migrate --noinput -v0
	DATABASE_URL=$(STACK_DATABASE_URL) REDIS_URL=$(STACK_REDIS_URL) $(PY) manage.py collectstatic --noinput -v0
	DATABASE_URL=$(STACK_DATABASE_URL) REDIS_URL=$(STACK_REDIS_URL) STACK_ADDR=$(STACK_ADDR) \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile

clean:
	rm -rf var/ staticfiles/ bench/out/ .pytest_cache/ .ruff_cache/ .hypothesis/
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
