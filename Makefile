# Quick start: `make demo` (venv, install, a held-out photo styled instantly, then refined) and
# `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test docs lint install dev clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.dev

demo: install
	$(VENV)/bin/stylelab demo -o out/demo.png
	@echo "see out/demo.png (photo | painting | instant | refined, with seconds and distances; figures in out/demo.json)"

# The site first (about 2 s): a broken link or anchor, a missing page or one left out of the
# nav fails the build. No -q: it hides the warnings that --strict counts.
test: dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site
	$(PY) -m pytest -q -n 2

docs: dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

lint: dev
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) out site .pytest_cache .mypy_cache .ruff_cache
