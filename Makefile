# Set-up is two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt
PYTEST_ARGS ?=

.PHONY: demo test bench lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# The stamps reinstall only when the project's requirements change.
$(VENV)/.installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PIP) -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/aekit demo --out runs/demo

test: $(VENV)/.installed-dev
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# Benchmarks write markdown tables to bench/results/; they take tens of minutes.
bench: $(VENV)/.installed-dev
	$(PIP) -e '.[dev,bench]'
	$(PY) bench/run_all.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check src tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache
