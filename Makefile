# Two commands do everything on a fresh machine with only Python:
#   make run   - create .venv/, install netemu, trace the shipped default topology
#   make test  - install what the tests need into .venv/ and run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOPOLOGY ?= topologies/lambda-nat-internet.yaml

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/netemu trace $(TOPOLOGY) --from lambda:orders --to api.example.com --port 443

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
