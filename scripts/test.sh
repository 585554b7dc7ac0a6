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
broker() {  # the secured test broker: mTLS with the test PKI's certificates, ACLs enforced
  DOCBUS_HOME="$DOCBUS_TEST_HOME" DOCBUS_PKI_DIR="$DOCBUS_TEST_HOME/pki" DOCBUS_INSECURE=0 \
    DOCBUS_BROKER_PORT="$DOCBUS_TEST_BROKER_PORT" DOCBUS_CLUSTER_PORT="$DOCBUS_TEST_CLUSTER_PORT" \
    .venv/bin/docbus broker "$@"
}
cleanup() {
  broker stop >/dev/null 2>&1 || true
  broker stop --nodes 3 >/dev/null 2>&1 || true
}
trap cleanup EXIT

# the codebase's own rules, before any test: lint, strict types, the floors' import contracts
echo "lint: ruff check, mypy --strict, import-linter" >&2
.venv/bin/ruff check --quiet .
.venv/bin/mypy --strict --no-error-summary schemas producers consumers infra docbus
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache

# every run starts from an empty test broker: no state leaks between runs
cleanup
rm -rf "$DOCBUS_TEST_HOME"
.venv/bin/python -c "from tests.conftest import ensure_test_pki; ensure_test_pki()"
broker start

# the suite starts some hundreds of `python -m docbus.cli` processes: each reads the codebase's
# bytecode instead of compiling every module it imports again (none is written where the
# environment sets PYTHONDONTWRITEBYTECODE; about a quarter of a command's start-up CPU)
.venv/bin/python -m compileall -q -j 0 docbus schemas producers consumers infra benchmarks tests >/dev/null

set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "no tests ran" >&2; fi
exit "$rc"
