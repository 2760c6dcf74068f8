# Two commands do all set-up on a fresh machine (python3, make, g++, perl):
#   make run    - create .venv, install aimcgen, run it on the built-in default design
#   make test   - create .venv, install aimcgen with its test tools, run the test suite but the slow flows
#   (make test-slow runs those: the FPGA and SKY130 flows, formal proofs, the big benches; .ci/run runs both)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-slow bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/aimcgen generate

test: $(BIN)/.installed
	$(BIN)/python -m pytest -n 2 -m 'not slow' $(PYTEST_ARGS)

# The tests marked slow (pyproject.toml): long flows and benches, which CI runs after `make test`.
test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -n 2 -m slow $(PYTEST_ARGS)

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/golden.py

clean:
	rm -rf build .venv *.egg-info
