# Two commands do everything on a fresh machine with only Python:
#   make run   - create .venv/, install netemu, trace the shipped default topology
#   make test  - install what the tests need into .venv/ and run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOPOLOGY ?= topologies/lambda-nat-internet.yaml

.PHONY: run test test-deep golden readme mutants lint bench clean

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
	$(BIN)/lint-imports
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest

# The property tests with 20 times the examples, freshly random each run (slow).
test-deep: $(VENV)/.installed-test
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest $$(grep -l '@given' tests/test_*.py)

# Rewrite README.md's shown outputs and tests/golden/ from real runs (review the diff).
golden readme: $(VENV)/.installed-test
	NETEMU_REGEN_GOLDEN=1 $(BIN)/python -m pytest -q tests/test_golden.py

# Mutation testing of netemu/dataplane/{elements,classify} ([tool.mutmut] in
# pyproject.toml; results in tests/mutation.md), on a copy of the tree in MUTANTS_TREE so
# that the working tree is never touched. MUTANTS narrows it to mutant names, e.g.
#   make mutants MUTANTS='netemu.dataplane.classify.lpm.*'   (the whole set takes hours)
MUTANTS_TREE ?= /tmp/netemu-mutants
MUTANTS ?=
mutants: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	rm -rf $(MUTANTS_TREE) && mkdir -p $(MUTANTS_TREE)
	tar --exclude=./.venv --exclude=./mutants --exclude=./.git -cf - . | tar -xf - -C $(MUTANTS_TREE)
	cd $(MUTANTS_TREE) && HYPOTHESIS_PROFILE=mutation $(CURDIR)/$(BIN)/mutmut run \
		--max-children 2 $(MUTANTS); $(CURDIR)/$(BIN)/mutmut results

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis
