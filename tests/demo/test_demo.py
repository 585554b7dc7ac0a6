"""`docbus demo` at reduced size as a newcomer runs it: a real subprocess that holds its PKI ceremony,
starts its own secured broker (mTLS on every listener, ACLs applied) on ports of its own and its
own `docbus bus run` and `docbus audit writer`, checked through its summary.json."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.workers import port

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[2]
DEPARTMENTS, UNIVERSITIES = 5, 4
#: the demo's own broker: clear of the test broker, the cluster and the access-control broker
DEMO_PORT = port("DOCBUS_TEST_SECURE_PORT") + 20


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("demo")
    state = root / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCBUS_")}
    env |= {"DOCBUS_HOME": str(root), "DOCBUS_BROKER_PORT": str(DEMO_PORT), "COLUMNS": "200"}
    run = subprocess.run(
        [sys.executable, "-m", "docbus.cli", "demo", "--departments", str(DEPARTMENTS),
         "--universities", str(UNIVERSITIES), "--state", str(state), "--timeout", "60"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    logs = "".join(p.read_text()[-2000:] for p in sorted((state / "logs").glob("*.log")))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:] + logs
    assert not (state / "pids.json").exists()  # the processors were stopped
    data: dict[str, Any] = json.loads((state / "summary.json").read_text())
    data["stdout"] = run.stdout
    data["state"] = str(state)
    assert "mTLS on every listener, ACLs enforced" in run.stdout
    return data


def test_the_directive_reaches_every_department_exactly_once(summary: dict[str, Any]) -> None:
    directive = summary["documents"][0]
    assert directive["label"] == "directive 12/CT-BGDĐT"
    assert directive["bus_notice"] == "01"
    assert directive["recipients"] == DEPARTMENTS
    assert directive["delivered"] == directive["copies"] == DEPARTMENTS
    assert directive["duplicates"] == 0 and directive["missing"] == []
    assert "directive 12/CT-BGDĐT" in summary["stdout"]


def test_acknowledgements_match_what_the_clerks_sent(summary: dict[str, Any]) -> None:
    directive = summary["documents"][0]
    assert directive["arrived_01"] == DEPARTMENTS
    refusals = directive["refusals"]
    assert directive["refused_02"] == len(refusals) == 1  # about 5 of 63: one of 5
    assert directive["accepted_03"] == DEPARTMENTS - 1
    assert all(reason for reason in refusals.values())
    dispatches = summary["documents"][1:]
    assert [d["sender"] for d in dispatches] == [f"G03.U00{i}" for i in range(1, UNIVERSITIES + 1)]
    for d in dispatches[:-1]:
        assert d["bus_notice"] == "01"
    # the last one names the closed H64: its 01 states the redirect to the successor
    assert dispatches[-1]["bus_notice"] == "01 redirected: H64 -> H01"
    for d in dispatches:
        assert d["delivered"] == d["arrived_01"] == d["accepted_03"] == d["recipients"]
        assert d["refused_02"] == 0
    assert dispatches[-1]["recipients"] == 2  # G03.U001 and H64, closed, answered by H01


def test_bad_envelopes_are_quarantined_with_their_reasons(summary: dict[str, Any]) -> None:
    reasons = {r["sender"]: (r["reason"], r["bus_notice"]) for r in summary["rejected"]}
    assert reasons["H02"][0] == "CERT_REVOKED" and reasons["H02"][1].startswith("02 CERT_REVOKED")
    assert reasons["H03"][0] == "DIGEST_MISMATCH" and reasons["H03"][1].startswith("02 DIGEST_MISMATCH")
    assert summary["complete"] is True


def test_the_audit_log_verifies(summary: dict[str, Any]) -> None:
    audit = summary["audit"]
    assert audit["ok"] is True, audit["fault"]
    assert audit["checkpoints"] >= 1 and audit["signed"] >= 1
    expected = sum(2 + 3 * d["recipients"] for d in summary["documents"]) + 2 * len(summary["rejected"])
    assert audit["about_demo"] >= expected
    assert "OK" in summary["stdout"] and "docbus audit verify" in summary["stdout"]


def test_the_scanned_appendix_travels_as_chunks_and_is_stored_verified(summary: dict[str, Any]) -> None:
    letter = summary["documents"][1]
    assert letter["label"].endswith("MB scanned appendix") and letter["arrived_01"] == 1
    folder = Path(summary["state"]) / "nodes" / letter["first"] / "inbox" / letter["message_id"]
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    scan = next(p for p in meta["payloads"] if p["name"] == "phu-luc-scan.pdf")
    assert scan["chunks"] >= 6 and scan["size"] > 6_000_000
    assert scan["encrypted"]  # its chunks on docbus.blobs are ciphertext to the recipient (ENVELOPE.md §7.4)
    stored = folder / "files" / "phu-luc-scan.pdf"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == scan["sha256"]
