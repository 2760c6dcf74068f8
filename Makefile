# Two commands do all set-up on a fresh machine (python3, make, g++, perl):
#   make run    - create .venv, install aimcgen, run it on the built-in default design
#   make test   - create .venv, install aimcgen with its test tools, run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-fast bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/aimcgen generate

test: $(BIN)/.installed
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# Everything but the slow flows: for the edit-test loop.
test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -n 2 -m 'not slow' $(PYTEST_ARGS)

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/golden.py

clean:
	rm -rf build .venv *.egg-info
