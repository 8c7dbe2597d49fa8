# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The election to replay; empty means pbctl's default, Cambridge 2019 in
# $(PABULIB_DIR) or ../shared/pabulib.
PB ?=
PB_ARG = $(if $(PB),--pb "$(PB)")
SITE_PORT ?= 8000
API_PORT ?= 8001
AWS_PORT ?= 5000

.PHONY: setup demo up site browser test unit functional conformance lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pbctl demo $(PB_ARG) --aws-port $(AWS_PORT) --api-port $(API_PORT)

up: $(STAMP)
	$(BIN)/pbctl up $(PB_ARG) --aws-port $(AWS_PORT) --api-port $(API_PORT) --site-port $(SITE_PORT)

# The participation site: npm ci (first time) and npm run build into static_site/dist.
site: $(STAMP)
	$(BIN)/python -c "from pbctl.siteserver import ensure_site_built; ensure_site_built(force=True)"

# Smoke tests in Debian's Chromium (/usr/bin/chromium); builds the site if stale.
browser: $(STAMP)
	$(BIN)/pytest -m browser tests/browser

test: $(STAMP) lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/bench_tally.py
	$(BIN)/python bench/bench_cast.py
	$(BIN)/python bench/bench_replay.py
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_site.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .local static_site/dist
