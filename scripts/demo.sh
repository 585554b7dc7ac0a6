#!/usr/bin/env bash
# The main job: on a local Kafka broker it starts itself, run the docbus demo bus.
# Extra arguments go to `docbus demo` (see `docbus demo --help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DOCBUS_SKIP_SOFTHSM="${DOCBUS_SKIP_SOFTHSM:-1}" scripts/bootstrap.sh
exec .venv/bin/docbus demo "$@"
