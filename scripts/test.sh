#!/usr/bin/env bash
# The test command: installs what it needs, starts the real Kafka broker, runs the whole suite
# (unit, broker integration, 3-node fault suite), and stops every broker even when tests fail.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not cluster" -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/bootstrap.sh

export DOCBUS_TEST_HOME="${DOCBUS_TEST_HOME:-$PWD/.docbus-test}"
export DOCBUS_TEST_BROKER_PORT="${DOCBUS_TEST_BROKER_PORT:-29092}"
export DOCBUS_TEST_CLUSTER_PORT="${DOCBUS_TEST_CLUSTER_PORT:-29100}"
# pytest-xdist workers (2 by default, one per core): worker N has its own test broker, cluster
# and folders, its ports N * 500 above the base ones (tests/workers.py keeps the same rule)
workers="${DOCBUS_TEST_WORKERS:-2}"
brokers=$((workers > 1 ? workers : 1))  # one test broker per worker, one without xdist
home() { if [ "$1" = 0 ]; then echo "$DOCBUS_TEST_HOME"; else echo "$DOCBUS_TEST_HOME-gw$1"; fi; }
broker() {  # broker N ARGS: worker N's secured test broker (mTLS with its test PKI's certificates, ACLs)
  local n="$1"; shift
  DOCBUS_HOME="$(home "$n")" DOCBUS_PKI_DIR="$(home "$n")/pki" DOCBUS_INSECURE=0 \
    DOCBUS_BROKER_PORT="$((DOCBUS_TEST_BROKER_PORT + n * 500))" \
    DOCBUS_CLUSTER_PORT="$((DOCBUS_TEST_CLUSTER_PORT + n * 500))" \
    .venv/bin/docbus broker "$@"
}
cleanup() {
  local n
  for ((n = 0; n < brokers; n++)); do
    broker "$n" stop >/dev/null 2>&1 || true
    broker "$n" stop --nodes 3 >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# the codebase's own rules, before any test: lint, strict types, the floors' import contracts
echo "lint: ruff check, mypy --strict, import-linter" >&2
.venv/bin/ruff check --quiet .
.venv/bin/mypy --strict --no-error-summary schemas producers consumers infra docbus
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache

# every run starts from an empty test broker: no state leaks between runs
cleanup
for ((n = 0; n < brokers; n++)); do
  rm -rf "$(home "$n")"
  PYTEST_XDIST_WORKER="gw$n" .venv/bin/python -c "from tests.conftest import ensure_test_pki; ensure_test_pki()"
  broker "$n" start &
done
wait_all() { local rc=0 pid; for pid in $(jobs -p); do wait "$pid" || rc=$?; done; return "$rc"; }
wait_all  # the workers' brokers start side by side

# the suite starts some hundreds of `python -m docbus.cli` processes: each reads the codebase's
# bytecode instead of compiling every module it imports again (none is written where the
# environment sets PYTHONDONTWRITEBYTECODE; about a quarter of a command's start-up CPU)
.venv/bin/python -m compileall -q -j 0 docbus schemas producers consumers infra benchmarks tests >/dev/null

set +e
if [ "$workers" -gt 1 ]; then
  # a module's tests stay together on one worker, the cluster modules on one, cluster first
  # (tests/conftest.py, pytest_xdist_make_scheduler)
  .venv/bin/python -m pytest -n "$workers" --dist loadscope --no-loadscope-reorder "$@"
else
  .venv/bin/python -m pytest "$@"
fi
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "no tests ran" >&2; fi
exit "$rc"
