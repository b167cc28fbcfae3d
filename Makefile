# Kefu: `make demo` sets up and runs the demo shop assistant; `make test` sets up and runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install system-deps demo test lint validate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch is pinned: 2.13.0 takes the CPU wheel from local disk (plain `torch` pulls a CUDA build)
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev,zh]"
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need, installed only when missing (redis-server; chromium for widget tests)
system-deps:
	@bash scripts/system_deps.sh

demo: install
	$(BIN)/kefu data validate
	test -f models/recommender/params.json || $(BIN)/kefu train recommender --out models/recommender  # the RL stage's shoppers ask for products
	$(BIN)/kefu train          # skips the parts whose data and config did not change
	$(BIN)/python scripts/run_demo.py

test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: install
	$(BIN)/ruff check .

validate: install
	$(BIN)/kefu data validate

clean:
	rm -rf $(VENV) models results .pytest_cache .ruff_cache
