# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PB ?= ../shared/pabulib/US_Stanford_Dataset_PB_Cambridge_2019_vote_approvals.pb
SITE_PORT ?= 8000
API_PORT ?= 8001
AWS_PORT ?= 5000

.PHONY: setup demo up test unit functional conformance lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pbctl demo --pb "$(PB)" --aws-port $(AWS_PORT) --api-port $(API_PORT)

up: $(STAMP)
	$(BIN)/pbctl up --pb "$(PB)" --aws-port $(AWS_PORT) --api-port $(API_PORT) --site-port $(SITE_PORT)

test: $(STAMP) lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/bench_tally.py
	$(BIN)/python bench/bench_cast.py
	$(BIN)/python bench/bench_replay.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .local
