# Two commands for a newcomer: `make plan` and `make test`. Everything runs inside .venv.
STACK ?= dev
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install plan test lint unit preview up destroy preflight bucket smoke clean pulumi-cli

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
	$(BIN)/python -m tools.operate.preflight --stack $(STACK)

## The Pulumi CLI runs preview/up/destroy; say how to get it instead of "command not found".
pulumi-cli:
	@command -v pulumi >/dev/null 2>&1 || { \
	  echo "make: the Pulumi CLI is not installed (needed for preview, up, destroy, bucket)."; \
	  echo "Install it: curl -fsSL https://get.pulumi.com | sh   (https://www.pulumi.com/docs/install/)"; \
	  echo "then log in to a backend: pulumi login (or pulumi login --local)."; \
	  exit 127; }

## The policy pack (policy/) runs with every preview and up; policy/config/<stack>.json lowers
## or configures its rules for one stack.
POLICY := --policy-pack policy $(if $(wildcard policy/config/$(STACK).json),--policy-pack-config policy/config/$(STACK).json)

preview: install pulumi-cli
	PATH="$(abspath $(BIN)):$$PATH" pulumi preview --stack $(STACK) --diff $(POLICY)

## With `staging: none`: create only the model bucket (and its hardening) so the models can be
## uploaded before the first full `make up` preloads them into the cache. The engine skips the
## create of an untargeted resource and refuses a targeted one whose parent is such a skipped
## create (pulumi/pulumi:pkg/resource/deploy/step_generator.go@v3.259.0, "untargeted create"),
## so the ModelStore component that parents the bucket is targeted too. `**` matches any
## characters, `*` any but ':' (pkg/resource/deploy/deployment.go@v3.259.0 getMatcher); a URN's
## type is its parent's full type chain, the root stack left out (same file, generateURN).
MODEL_STORE_URN := urn:pulumi:$(STACK)::kserve-fluid::kserve-fluid:storage:ModelStore::models
BUCKET_URNS := urn:pulumi:$(STACK)::kserve-fluid::kserve-fluid:storage:ModelStore$$aws:s3/bucket:Bucket**
bucket: install pulumi-cli
	PATH="$(abspath $(BIN)):$$PATH" pulumi up --stack $(STACK) --target '$(MODEL_STORE_URN)' --target '$(BUCKET_URNS)' $(POLICY)

up: install pulumi-cli
	PATH="$(abspath $(BIN)):$$PATH" pulumi up --stack $(STACK) $(POLICY)

## After `pulumi up`: every InferenceService Ready, answering through the ingress, on a GPU node
smoke: install
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m tools.operate.smoke --stack $(STACK)

## Refuses a stack whose config turns protect on (see tools/operate/deploy_guard.py for why);
## ALLOW_PROTECTED=yes deletes the unprotected part anyway (`pulumi destroy --exclude-protected`:
## a plain destroy's preview fails on the first protected resource and deletes nothing).
destroy: install pulumi-cli
	$(BIN)/python -m tools.operate.deploy_guard destroy --stack $(STACK) $(if $(filter yes,$(ALLOW_PROTECTED)),--allow-protected)
	PATH="$(abspath $(BIN)):$$PATH" pulumi destroy --stack $(STACK) $(if $(filter yes,$(ALLOW_PROTECTED)),--exclude-protected)

clean:
	rm -rf build $(VENV)
