# ecs-delegate-controller: the project's commands. `make test` and `make demo` work on a fresh
# machine: they install what they need (the pinned moto server in a project-local virtualenv).

CARGO       ?= cargo
PYTHON      ?= python3
VENV        ?= $(CURDIR)/.venv
MOTO_VERSION = 5.2.5
MOTO_STAMP   = $(VENV)/.moto-$(MOTO_VERSION)
# parliament: the IAM policy linter tests/deploy.rs runs over deploy/iam-policy.json.
PARLIAMENT_VERSION = 1.6.4
PARLIAMENT_STAMP   = $(VENV)/.parliament-$(PARLIAMENT_VERSION)
# playwright's Python package drives Debian's Chromium in tests/browser.rs (never a browser of
# its own); cfn-lint checks deploy/'s CloudFormation templates.
PLAYWRIGHT_VERSION = 1.65.2
CFNLINT_VERSION    = 1.58.0
CFNLINT_STAMP      = $(VENV)/.cfn-lint-$(CFNLINT_VERSION)
BROWSER_STAMP      = $(VENV)/.playwright-$(PLAYWRIGHT_VERSION)
CHROMIUM           = /usr/bin/chromium
# Where cargo puts what it builds: CARGO_TARGET_DIR when set (a common developer setup).
TARGET_DIR   = $(or $(CARGO_TARGET_DIR),target)
BIN          = $(TARGET_DIR)/debug/ecs-delegate-controller
RELEASE_BIN  = $(TARGET_DIR)/release/ecs-delegate-controller

export MOTO_VENV = $(VENV)

.PHONY: all build test test-aws lint fmt schema setup demo bench soak fuzz clean

all: build

## setup: the local ECS endpoint (moto server, pinned), the IAM policy linter and playwright in
## .venv, and Debian's Chromium when missing; skipped when already there
setup: $(MOTO_STAMP) $(PARLIAMENT_STAMP) $(BROWSER_STAMP) $(CFNLINT_STAMP) $(CHROMIUM)

$(MOTO_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'
	touch $@

$(PARLIAMENT_STAMP): $(MOTO_STAMP)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'parliament==$(PARLIAMENT_VERSION)'
	touch $@

# Each pip install after the previous one (one virtualenv; make -j must not run two at once).
$(CFNLINT_STAMP): $(PARLIAMENT_STAMP)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'cfn-lint==$(CFNLINT_VERSION)'
	touch $@

$(BROWSER_STAMP): $(CFNLINT_STAMP)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'playwright==$(PLAYWRIGHT_VERSION)'
	touch $@

# Debian's package (root, or sudo without a password); the browser test needs it.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y --no-install-recommends chromium >/dev/null; }

## build: the controller binary
build:
	$(CARGO) build --locked

## demo: start a local ECS endpoint, reconcile examples/ into it, show the result, stop it
demo: setup build
	BIN=$(BIN) scripts/demo.sh

## bench: API calls and timings against a local endpoint; writes bench/RESULTS.md (not part of test)
bench: setup
	$(CARGO) build --locked --release
	$(VENV)/bin/python bench/bench.py $(RELEASE_BIN)

## soak: the loop for 10 minutes with random drift (not part of test); MINUTES=1 for a short one
soak: setup
	$(CARGO) build --locked --release
	$(VENV)/bin/python scripts/soak.py $(RELEASE_BIN) --minutes $(or $(MINUTES),10)

## fuzz: every fuzz target under libFuzzer with coverage, FUZZ_SECONDS each (default 120);
## FUZZ_TARGETS="loader events" for some; crashes in fuzz/artifacts/ (not part of test)
fuzz:
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),120) scripts/fuzz.sh $(FUZZ_TARGETS)

## lint: formatting and clippy, as CI enforces them
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

## fmt: format the code
fmt:
	$(CARGO) fmt --all

## test: lint, then every test (unit and end to end against a local moto server). The lint's
## build and the virtualenv's installs (75 s of pip on a fresh clone) run side by side.
test:
	$(MAKE) --no-print-directory -j2 lint setup
	$(CARGO) test --locked --workspace --all-targets

## test-aws: the lifecycle scenario (tests/scenario.rs) against a real account; creates billable
## resources; only with EDC_TEST_AWS=1 and credentials, never in CI (see README)
test-aws:
	@if [ "$(EDC_TEST_AWS)" != 1 ] || [ -n "$(CI)" ]; then \
	  echo "make test-aws runs against a real AWS account: set EDC_TEST_AWS=1 (never in CI); see README"; exit 2; fi
	$(CARGO) test --locked --test scenario -- --ignored --nocapture the_lifecycle_scenario_against_a_real_account

## schema: regenerate schema/delegategroup.schema.json
schema:
	UPDATE_SCHEMA=1 $(CARGO) test --locked -p ecs-delegate-spec --test validation checked_in_schema_is_up_to_date

clean:
	$(CARGO) clean
	rm -rf $(VENV)
