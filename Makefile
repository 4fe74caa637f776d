# The README's commands. `make setup` is idempotent and takes seconds once everything is there.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-deps

.PHONY: setup engine test-deps test test-fast wheel-test dist lint typecheck unit demo bench spec-schema e2e-aws clean

setup: $(STAMP) engine

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

engine: $(STAMP)
	$(BIN)/trainctl engine install

lint: $(STAMP)
	$(BIN)/ruff check orchestrator policies tests bench examples
	$(BIN)/ruff format --check orchestrator policies tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

# Real components the tests drive that pip does not install (tests/deps/README.md).
test-deps: setup
	@for s in tests/deps/*.sh; do [ -e "$$s" ] || continue; echo "test-deps: $$s"; bash "$$s" || exit 1; done

test: setup test-deps lint typecheck unit

# The inner loop: every test that needs no Pulumi engine (no engine install either); `make test` runs all.
test-fast: $(STAMP)
	$(BIN)/pytest -m "not engine and not e2e_aws" -q -n 2

# The installed product: sdist + wheel, installed into a fresh venv outside the checkout, then used
# from a temporary directory (also part of `unit`; this runs it alone).
wheel-test: setup
	$(BIN)/pytest tests/packaging/test_wheel.py

dist: $(STAMP)
	$(BIN)/python -m build --outdir dist .

demo: setup
	$(BIN)/trainctl up examples/quickstart/job.yaml
	$(BIN)/trainctl ls

# Opt-in, on a real AWS account (costs a few cents: docs/aws.md). Skipped, with the reason, without
# credentials, the engine or the pulumi-resource-aws provider binary.
e2e-aws: $(STAMP)
	TRAINCTL_E2E_AWS=1 $(BIN)/pytest tests/aws/test_e2e_aws.py -m e2e_aws -rs -v

bench: setup
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/completion.py

# After changing orchestrator/spec/{models,rules,durations}.py: the schema validate's fast path reads,
# and the generated field reference docs/spec.md.
spec-schema: $(STAMP)
	$(BIN)/python -m orchestrator.spec.fastpath
	$(BIN)/python -m orchestrator.spec.reference

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache dist
