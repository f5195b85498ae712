# faultlab: every target runs the idempotent setup first (Debian packages as root, .venv).
VENV := .venv
PY := $(VENV)/bin/python
SETUP := scripts/setup.sh

.PHONY: setup demo test check lint typecheck imports bench clean

setup:
	@bash $(SETUP)

demo: setup
	@bash scripts/demo.sh

test: setup
	$(PY) -m pytest -q -n 2 tests/unit
	$(PY) -m pytest -q tests/lab

check: setup lint typecheck imports

lint:
	$(VENV)/bin/ruff check --no-cache src tests benchmarks
	$(VENV)/bin/ruff format --no-cache --check src tests benchmarks

typecheck:
	$(VENV)/bin/mypy

imports:
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) benchmarks/triage_speed.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
