# Set-up and the two main commands. Everything is installed into .venv.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

## demo: install, then render a built-in sample sheet and score it (no user data needed)
demo: $(VENV)/.installed
	$(BIN)/ecgdigitize demo --out demo-output

## test: install, then lint and run the test suite
test: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_synth.py

clean:
	rm -rf $(VENV) demo-output build *.egg-info src/*.egg-info
