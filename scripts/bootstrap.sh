#!/usr/bin/env bash
# Make a fresh machine ready: a virtualenv with docbus installed, the Kafka jars from Maven
# Central, and SoftHSM2 (PKCS#11 token tests) from Debian's packages. Safe to run again:
# each step checks first and does nothing when its work is already done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "docbus needs $1 ($2)" >&2; exit 1; }; }
need python3 "Python 3.11+"
need java "Java 17+"
need mvn "Maven"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "docbus needs Python 3.11+" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.docbus-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi

# The real Apache Kafka broker, resolved by Maven (a second run resolves nothing new).
.venv/bin/docbus broker fetch >/dev/null

# SoftHSM2: a software PKCS#11 token, standing in for an official's USB token in tests.
if [ "${DOCBUS_SKIP_SOFTHSM:-0}" != 1 ] && ! command -v softhsm2-util >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "installing softhsm2 from Debian's packages" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq softhsm2 >/dev/null
fi
