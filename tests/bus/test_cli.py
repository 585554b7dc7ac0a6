"""`docbus directory load --sector` and `docbus directory show` on the broker, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.connection import KafkaConnection
from tests.bus.conftest import bus_env
from tests.bus.kafka import REPO
from tests.bus.world import DEPARTMENTS, UNIVERSITIES, World

pytestmark = pytest.mark.broker


def docbus(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "docbus.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_load_and_show_the_sector_directory(
    kafka_conn: KafkaConnection, published: World, tmp_path: Path
) -> None:
    env = {**os.environ, **bus_env(kafka_conn, published, tmp_path, "unused"), "COLUMNS": "200"}
    counts = ["--departments", str(len(DEPARTMENTS)), "--universities", str(len(UNIVERSITIES))]
    loaded = docbus(env, "directory", "load", "--sector", *counts)
    # the same entries, sealed again: signatures are outside the snapshot hash, so nothing moves
    assert published.snapshot.hex() in loaded
    shown = docbus(env, "directory", "show", "G03.BUS")
    assert published.snapshot.hex() in shown and "G03.BUS" in shown and "other" in shown
