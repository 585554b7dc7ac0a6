"""docs/GATEWAY.md's curl examples, run as written (every ```sh block, in order, one bash script)
against the two live gateways: the integration guide cannot drift from what the gateway does."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.gateway.conftest import Exchange
from tests.gateway.test_exchange import university_package

pytestmark = pytest.mark.broker
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "GATEWAY.md"


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def test_the_guide_runs_as_written(exchange: Exchange, tmp_path: Path) -> None:
    blocks = sh_blocks(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    (tmp_path / "cong-van.edxml").write_bytes(university_package("1235"))
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
        "UNI": exchange.uni.url, "UNI_ID": exchange.uni.client_id, "UNI_SECRET": exchange.uni.secret,
        "MOET": exchange.moet.url, "MOET_ID": exchange.moet.client_id, "MOET_SECRET": exchange.moet.secret,
    }  # fmt: skip
    script = "set -euo pipefail\n" + "\n".join(blocks)
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=240)  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{exchange.uni.log.read_text()[-2000:]}"
    assert "G03 03" in done.stdout  # the recipients' statuses the last block of the walkthrough prints
    assert (tmp_path / "received.edxml").read_bytes().startswith(b"<?xml")
