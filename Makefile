# Set-up is two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Extra pip options, e.g. PyTorch's CPU index (see the README's set-up).
PIP_ARGS ?=
PIP := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt $(PIP_ARGS)
PYTEST_ARGS ?=

.PHONY: demo test browser bench lint clean

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

test: $(VENV)/.installed-dev browser
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# The report's end-to-end test opens it in headless Chromium. Install Debian's
# chromium when it is missing and we can (root, apt-get); otherwise the test
# skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	|| { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium for the report's browser test (apt-get)"; \
	  timeout 600 sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium' >/dev/null 2>&1 \
	  || echo "could not install chromium; the browser test will skip"; \
	else echo "chromium missing (needs root and apt-get to install); the browser test will skip"; fi; }

# Benchmarks write markdown tables to bench/results/; all of them take hours on
# 2 CPU cores (each script's docstring gives quicker options).
bench: $(VENV)/.installed-dev
	$(PIP) -e '.[dev,bench]'
	$(PY) bench/run_all.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check src tests bench

clean:
	rm -rf $(VENV) runs .pytest_cache
