"""The environment the demo prints (`export DOCBUS_HOME=<state> ...`): `docbus broker status` finds the
demo's broker through `<state>/broker.json`, and `docbus demo --stop` stops only a broker the demo
started itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from docbus.local_broker import MARKER, record_broker
from docbus.settings import Settings
from infra.broker import Cluster
from tests import conftest
from tests.conftest import REPO, TEST_PKI

pytestmark = pytest.mark.broker


def _docbus(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCBUS_")}
    env |= {"DOCBUS_HOME": str(state), "DOCBUS_PKI_DIR": str(TEST_PKI), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "docbus.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_broker_status_and_stop_with_the_demo_environment(kafka: Cluster, tmp_path: Path) -> None:
    state = tmp_path / "demo"
    state.mkdir()
    down = _docbus(state, "broker", "status", "--json")  # no marker: this home has no broker
    assert down.returncode == 3 and json.loads(down.stdout)["running"] is False, down.stdout + down.stderr
    base = conftest.test_settings()
    cfg = Settings(home=base.home, broker_port=base.broker_port, pki_dir=TEST_PKI)
    record_broker(state, kafka, cfg, owned=False)  # as the demo records a broker it found running
    up = _docbus(state, "broker", "status", "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    shown = json.loads(up.stdout)
    assert shown["running"] is True and shown["bootstrap"] == kafka.bootstrap
    assert shown["nodes"][0]["pid"] == kafka.nodes[0].pid() and shown["nodes"][0]["port"] == base.broker_port
    stopped = _docbus(state, "demo", "--stop")  # the demo did not start it: it stays up
    assert stopped.returncode == 0 and "broker stopped" not in stopped.stdout, stopped.stdout + stopped.stderr
    assert kafka.running() and not (state / MARKER).exists()
