# Two commands for a newcomer: `make plan` and `make test`. `make` alone lists every target.
# Everything runs inside .venv, installed by uv from uv.lock: planning gets the Pulumi program's
# dependencies only, the operator tools add the `tools` group, `make test` every group.
STACK ?= dev
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv itself, at the version pyproject.toml requires, bootstrapped with pip into .uv/.
UV_VERSION := $(shell sed -n 's/^required-version = "==\(.*\)"$$/\1/p' pyproject.toml)
UV_HOME := .uv
UV := $(UV_HOME)/bin/uv
# uv installs into .venv from the files uv.lock names (PyPI, hashes checked), with the system's
# CA store like pip's configuration here, and shows its progress on a terminal.
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_SYSTEM_CERTS ?= 1
# Python caches compiled modules in .pycache/, even where the environment says not to write
# bytecode (PYTHONDONTWRITEBYTECODE): without the cache every plan recompiles the pulumi_aws and
# pulumi_kubernetes modules it imports (a dev plan took 8.9 s instead of 5.6 s, the suite 211 s
# instead of 146 s). Only what is imported is compiled, once, and the source tree stays clean.
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX ?= $(CURDIR)/.pycache
UV_SYNC := $(UV) sync --frozen --python $(PYTHON)
INSTALLED := $(VENV)/.installed
# One test worker per core plus one: many tests wait on a subprocess, a local server or a poll,
# and the spare worker keeps every core busy meanwhile (2 cores: 146 s with 3, 171 s with 2).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))

.DEFAULT_GOAL := help
.PHONY: help install install-tools install-policy install-test plan test lint unit vendor lock preview up \
	destroy preflight bucket smoke clean pulumi-cli

## List the targets (the default)
help:
	@echo "make <target> [STACK=dev|prod]    (first install: about 10 s for plan, 30 s for test)"
	@awk '/^## /{if (doc == "") doc = substr($$0, 4); next} \
	  /^[a-z][a-z-]*:/ && doc != "" {split($$0, t, ":"); printf "  %-14s %s\n", t[1], doc} \
	  {doc = ""}' $(MAKEFILE_LIST)

$(UV):
	@$(PYTHON) -m pip --version >/dev/null 2>&1 || { \
	  echo "make: $(PYTHON) has no pip to install uv with; install pip (Debian: python3-pip)"; \
	  exit 1; }
	@echo "make: installing uv $(UV_VERSION) into $(UV_HOME)/ (pip)"
	$(PYTHON) -m pip install --disable-pip-version-check --root-user-action=ignore --quiet \
	  --target $(UV_HOME) uv==$(UV_VERSION)

# One stamp per dependency set; each is redone when the lock or pyproject.toml changes.
# `--inexact` keeps what a larger set installed (make plan after make test removes nothing).
$(INSTALLED)-runtime: uv.lock pyproject.toml | $(UV)
	@echo "make: installing the Pulumi program's dependencies into $(VENV)/ (uv.lock)"
	$(UV_SYNC) --inexact
	@touch $@
$(INSTALLED)-tools: uv.lock pyproject.toml | $(UV)
	@echo "make: installing the program's and the operator tools' dependencies into $(VENV)/"
	$(UV_SYNC) --inexact --group tools
	@touch $@
$(INSTALLED)-policy: uv.lock pyproject.toml | $(UV)
	@echo "make: installing the program's and the policy pack's dependencies into $(VENV)/"
	$(UV_SYNC) --inexact --group policy
	@touch $@
# PyTorch's CPU build is not in uv.lock (requirements-torch.txt says why): uv pip installs it from
# the PyTorch CPU index or wherever pip is configured to look (tools/maintain/pip_sources.py).
$(INSTALLED)-test: uv.lock pyproject.toml requirements-torch.txt | $(UV)
	@echo "make: installing every dependency group (tests, lint) into $(VENV)/"
	$(UV_SYNC) --inexact --all-groups
	@echo "make: installing PyTorch's CPU build (requirements-torch.txt)"
	env $(shell $(PYTHON) -m tools.maintain.pip_sources) \
	  $(UV) pip install --no-config --python $(BIN)/python --no-deps -r requirements-torch.txt
	@touch $@ $(INSTALLED)-tools $(INSTALLED)-policy $(INSTALLED)-runtime

## Install the Pulumi program's dependencies into .venv (what plan, preview and up need)
install: $(INSTALLED)-runtime
## Add the operator tools' dependencies (preflight, smoke, stage_model, benchmarks)
install-tools: $(INSTALLED)-tools
## Add the policy pack's SDK (pulumi-policy): plan, preview and up run the pack
install-policy: $(INSTALLED)-policy
## Add the test and lint toolchain
install-test: $(INSTALLED)-test

## Render the stack offline (no cloud, no Pulumi CLI) into build/plan/$(STACK)/
plan: install install-policy
	$(BIN)/python -m tools.plan --stack $(STACK)

## Lint, type-check and run every test
test: lint unit

## Run the test suite only
unit: install-test
	@# The workers all start by rendering plans: compile what a plan imports first, on every core.
	@$(BIN)/python -m tools.maintain.precompile
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -q

## ruff and mypy only
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --num-workers auto .

## Verify vendor/ (charts, CRDs) against vendor/manifest.json; online, fetch them again first
vendor:
	$(PYTHON) -m tools.maintain.vendor --refresh

## Re-resolve uv.lock from pyproject.toml (PyPI) after changing a pin; export requirements.txt
lock: | $(UV)
	$(UV) lock
	$(UV) export --frozen --no-default-groups --no-emit-project --format requirements-txt \
	  --quiet -o requirements.txt

## Read-only AWS checks before a long `pulumi up`
preflight: install-tools
	$(BIN)/python -m tools.operate.preflight --stack $(STACK)

## Check for the Pulumi CLI (preview, up, destroy, bucket) and say how to install it
pulumi-cli:
	@command -v pulumi >/dev/null 2>&1 || { \
	  echo "make: the Pulumi CLI is not installed (needed for preview, up, destroy, bucket)."; \
	  echo "Install it: curl -fsSL https://get.pulumi.com | sh   (https://www.pulumi.com/docs/install/)"; \
	  echo "then log in to a backend: pulumi login (or pulumi login --local)."; \
	  exit 127; }

# The policy pack (policy/) runs with every preview and up; policy/config/<stack>.json lowers
# or configures its rules for one stack.
POLICY := --policy-pack policy $(if $(wildcard policy/config/$(STACK).json),--policy-pack-config policy/config/$(STACK).json)
# Pulumi.yaml's `toolchain: uv` runs `uv sync` before the program: our uv is on PATH for it.
PULUMI_PATH := PATH="$(abspath $(BIN)):$(abspath $(UV_HOME)/bin):$$PATH"

## Preview the stack's changes (Pulumi CLI, policy pack)
preview: install install-policy pulumi-cli
	$(PULUMI_PATH) pulumi preview --stack $(STACK) --diff $(POLICY)

# With `staging: none`: create only the model bucket (and its hardening) so the models can be
# uploaded before the first full `make up` preloads them into the cache. The engine skips the
# create of an untargeted resource and refuses a targeted one whose parent is such a skipped
# create (pulumi/pulumi:pkg/resource/deploy/step_generator.go@v3.259.0, "untargeted create"),
# so the ModelStore component that parents the bucket is targeted too. `**` matches any
# characters, `*` any but ':' (pkg/resource/deploy/deployment.go@v3.259.0 getMatcher); a URN's
# type is its parent's full type chain, the root stack left out (same file, generateURN).
MODEL_STORE_URN := urn:pulumi:$(STACK)::kserve-fluid::kserve-fluid:storage:ModelStore::models
BUCKET_URNS := urn:pulumi:$(STACK)::kserve-fluid::kserve-fluid:storage:ModelStore$$aws:s3/bucket:Bucket**
## Create only the model bucket (staging: none), to upload models before the first `make up`
bucket: install install-policy pulumi-cli
	$(PULUMI_PATH) pulumi up --stack $(STACK) --target '$(MODEL_STORE_URN)' --target '$(BUCKET_URNS)' $(POLICY)

## Deploy the stack (Pulumi CLI, policy pack)
up: install install-policy pulumi-cli
	$(PULUMI_PATH) pulumi up --stack $(STACK) $(POLICY)

# Without the Pulumi CLI: SMOKE_FLAGS="--ingress-url http://HOST --kubeconfig FILE".
## After `pulumi up`: every InferenceService Ready, answering through the ingress, on a GPU node
smoke: install-tools
	$(PULUMI_PATH) $(BIN)/python -m tools.operate.smoke --stack $(STACK) $(SMOKE_FLAGS)

# tools/operate/deploy_guard.py says why protected stacks are refused; ALLOW_PROTECTED=yes
# deletes the unprotected part anyway (`pulumi destroy --exclude-protected`: a plain destroy's
# preview fails on the first protected resource and deletes nothing). DESTROY_FLAGS is passed to
# `pulumi destroy` as it is (e.g. --refresh).
## Delete the stack (refused when its config turns protect on; DESTROY_FLAGS=--refresh passes flags)
destroy: install pulumi-cli
	$(BIN)/python -m tools.operate.deploy_guard destroy --stack $(STACK) $(if $(filter yes,$(ALLOW_PROTECTED)),--allow-protected)
	$(PULUMI_PATH) pulumi destroy --stack $(STACK) $(if $(filter yes,$(ALLOW_PROTECTED)),--exclude-protected) $(DESTROY_FLAGS)

## Remove build/, .venv, the bytecode cache and the bootstrapped uv
clean:
	rm -rf build $(VENV) .pycache $(UV_HOME)
