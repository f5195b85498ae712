# faultlab: every target runs the idempotent setup first (Debian packages as root, .venv).
VENV := .venv
PY := $(VENV)/bin/python
SETUP := scripts/setup.sh
# Bytecode caching on for our runs even where the environment turns it off: without it every Python process (each
# pytest worker, each `faultlab` subprocess a test starts) compiles and assertion-rewrites ~200 modules again, about
# 1.5 s per pytest process here. The caches land in __pycache__/ (ignored by git).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup demo test check lint typecheck imports bench clean

setup:
	@bash $(SETUP)

demo: setup
	@bash scripts/demo.sh

# Two workers, each test file on one of them (a lab test module's embedded lab is its worker's own); tests/conftest.py
# starts the minutes-long modules first.
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile tests

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
