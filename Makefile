# Two commands for a newcomer: `make plan` and `make test`. Everything runs inside .venv.
STACK ?= dev
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install plan test lint unit preview up destroy preflight bucket clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## Render the stack offline (no cloud, no Pulumi CLI) into build/plan/$(STACK)/
plan: install
	$(BIN)/python -m tools.plan --stack $(STACK)

## Lint, type-check and run every test
test: lint unit

unit: install
	$(BIN)/python -m pytest -n 2 -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

## Read-only AWS checks before a long `pulumi up`
preflight: install
	$(BIN)/python -m tools.preflight --stack $(STACK)

## The policy pack (policy/) runs with every preview and up; policy/config/<stack>.json lowers
## or configures its rules for one stack.
POLICY := --policy-pack policy $(if $(wildcard policy/config/$(STACK).json),--policy-pack-config policy/config/$(STACK).json)

preview: install
	PATH="$(abspath $(BIN)):$$PATH" pulumi preview --stack $(STACK) --diff $(POLICY)

## With `staging: none`: create only the model bucket (and its hardening) so the models can be
## uploaded before the first full `make up` preloads them into the cache.
BUCKET_URN := urn:pulumi:$(STACK)::kserve-fluid::kserve-fluid:storage:ModelStore$$aws:s3/bucket:Bucket
bucket: install
	PATH="$(abspath $(BIN)):$$PATH" pulumi up --stack $(STACK) --target '$(BUCKET_URN)**'

up: install
	PATH="$(abspath $(BIN)):$$PATH" pulumi up --stack $(STACK) $(POLICY)

destroy: install
	PATH="$(abspath $(BIN)):$$PATH" pulumi destroy --stack $(STACK)

clean:
	rm -rf build $(VENV)
