"""Every common mistake of a user: one line on stderr saying what is wrong and what to do, the
documented exit code (docs/OPERATIONS.md, "Exit codes"), no traceback unless --verbose."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ops.conftest import Exchange

pytestmark = pytest.mark.broker

SEND = ("send", "--number", "1", "--notation", "CV-T", "--subject", "thử", "--no-wait")


def _one_line(done: object, code: int, *words: str) -> None:
    rc, out, err = done.returncode, done.stdout, done.stderr  # type: ignore[attr-defined]
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == code, (rc, out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err + out
    for word in words:
        assert word in lines[0], lines[0]


def test_each_common_mistake_is_one_line_and_its_exit_code(exchange: Exchange, tmp_path: Path) -> None:
    doc = tmp_path / "cv.txt"
    doc.write_text("công văn thử")
    send = (*SEND, "--file", str(doc))
    # wrong case, wrong form of an org code: usage (2), with the likely code
    _one_line(exchange.run("inbox", "--org", "h01"), 2, "'h01' is not an org code", "did you mean H01")
    _one_line(exchange.run(*send, "--org", "H-01", "--to", "H02"), 2, "'H-01' is not an org code")
    # no key or certificate for the signer: local files (4)
    _one_line(exchange.run(*send, "--org", "H02", "--to", "H01"), 4, "no official", "docbus pki")
    _one_line(exchange.run("inbox", "--org", "H02", DOCBUS_PKI_PASSPHRASE="wrong"), 4,
              "wrong passphrase", "DOCBUS_PKI_PASSPHRASE")  # fmt: skip
    _one_line(exchange.run("inbox", "--org", "H01", DOCBUS_PKI_DIR=str(tmp_path / "none")), 4,
              "no PKI folder", "docbus pki init")  # fmt: skip
    # the broker down or at a wrong address: broker (5)
    _one_line(exchange.run(*send, "--org", "H01", "--to", "H02", DOCBUS_BOOTSTRAP="127.0.0.1:37999"), 5,
              "127.0.0.1:37999", "docbus broker status")  # fmt: skip
    # a recipient the directory does not know: refused (1) before anything is sent
    _one_line(exchange.run(*send, "--org", "H01", "--to", "H09"), 1, "UNKNOWN_RECIPIENT", "directory show")
    # an expired certificate: trust (6)
    _one_line(exchange.run(*send, "--org", "H03", "--to", "H01"), 6, "expired", "docbus pki")
    # --verbose: the same line, and the traceback for whoever reports it
    verbose = exchange.run("--verbose", "inbox", "--org", "H02", DOCBUS_PKI_PASSPHRASE="wrong")
    assert verbose.returncode == 4 and "Traceback" in verbose.stderr and "wrong passphrase" in verbose.stderr
