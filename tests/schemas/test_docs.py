"""docs/ENVELOPE.md stays true: its fingerprints and its openssl recipes run as written."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from schemas.codec import fingerprint

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "ENVELOPE.md").read_text(encoding="utf-8")
VECTORS = ROOT / "tests" / "vectors" / "data"


def _block(start: str, end: str) -> str:
    m = re.search(re.escape(start) + r".*?" + re.escape(end), DOC, re.S)
    assert m is not None, start
    return m.group(0)


_TABLE = [
    "envelope.v1",
    "envelope.v2",
    "envelope.v3",
    "envelope.v4",
    "envelope.v5",
    "envelope.v6",
    "blob_chunk.v1",
    "blob_chunk.v2",
    "receipt.v1",
    "receipt.v2",
    "receipt.v3",
    "quarantine.v1",
]


@pytest.mark.parametrize("name", _TABLE)
def test_fingerprint_table_matches_the_schemas(name: str) -> None:
    assert f"| `{name}` | " in DOC
    row = next(line for line in DOC.splitlines() if line.startswith(f"| `{name}` | "))
    assert f"`{fingerprint(name).hex()}`" in row


def _bash(script: str, cwd: Path) -> str:
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run([bash, "-e", "-c", script], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_receipt_example_rebuilds_the_signing_input_and_verifies(tmp_path: Path) -> None:
    _bash(_block("{ printf 'docbus/receipt/v1\\n'", "> input.bin"), tmp_path)
    assert (tmp_path / "input.bin").read_bytes() == (VECTORS / "receipt-rsa-pss.input.bin").read_bytes()
    out = _bash(_block("cat > pub.pem <<'EOF'", "input.bin"), tmp_path)
    assert "Verified OK" in out


def test_ed25519_example_verifies(tmp_path: Path) -> None:
    script = _block("cat > ed.pub.pem <<'EOF'", "-sigfile ed.sig")
    script = script.replace("valid-ed25519.input.bin", str(VECTORS / "valid-ed25519.input.bin"))
    assert "Signature Verified Successfully" in _bash(script, tmp_path)
