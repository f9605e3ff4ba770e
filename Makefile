# Quick start: `make demo` (venv, install, stylize a built-in example) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test lint install dev clean

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
	@echo "see out/demo.png (and out/demo_triptych.png: content | style | result)"

test: dev
	$(PY) -m pytest -q -n 2

lint: dev
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
