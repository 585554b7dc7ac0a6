"""Keeps pytest-xdist workers apart: each has its own test broker, cluster and state folder.

The test command (scripts/test.sh) runs the suite on several workers and starts one test broker
per worker. Worker ``gwN`` uses the base ports plus ``N * OFFSET`` and the folder ``<home>-gwN``;
``gw0`` (and a run without xdist) keeps the base settings. Imported first by tests/conftest.py,
before any module reads the environment; scripts/test.sh applies the same rule to start brokers.
"""

from __future__ import annotations

import os
from pathlib import Path

from infra.settings import InfraConfig

#: how far apart two workers' ports are (a worker's brokers use at most a few dozen ports)
OFFSET = 500
PORTS = (
    "DOCBUS_TEST_BROKER_PORT",
    "DOCBUS_TEST_CLUSTER_PORT",
    "DOCBUS_TEST_SECURE_PORT",
    "DOCBUS_BROKER_PORT",
    "DOCBUS_CLUSTER_PORT",
)
DEFAULTS = {
    "DOCBUS_TEST_BROKER_PORT": 29092,
    "DOCBUS_TEST_CLUSTER_PORT": 29100,
    "DOCBUS_TEST_SECURE_PORT": 29300,
    "DOCBUS_BROKER_PORT": InfraConfig.model_fields["broker_port"].default,
    "DOCBUS_CLUSTER_PORT": InfraConfig.model_fields["cluster_port"].default,
}


def port(key: str) -> int:
    """This worker's setting of one of ``PORTS``."""
    return int(os.environ.get(key, DEFAULTS[key]))


def worker_index() -> int:
    """0 for the first xdist worker and for a run without xdist, N for ``gwN``."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw")) if name.removeprefix("gw").isdigit() else 0


def keep_apart() -> None:
    """Moves this worker's ports and test home off the other workers' (idempotent per process)."""
    n = worker_index()
    if n == 0 or os.environ.get("DOCBUS_TEST_WORKER_APART") == str(n):
        return
    for key in PORTS:
        os.environ[key] = str(port(key) + n * OFFSET)
    home = os.environ.get("DOCBUS_TEST_HOME", str(Path(__file__).resolve().parent.parent / ".docbus-test"))
    os.environ["DOCBUS_TEST_HOME"] = f"{home}-gw{n}"
    docbus_home = os.environ.get("DOCBUS_HOME")
    if docbus_home:
        os.environ["DOCBUS_HOME"] = f"{docbus_home}-gw{n}-home"
    os.environ["DOCBUS_TEST_WORKER_APART"] = str(n)


keep_apart()
