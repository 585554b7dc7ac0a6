"""One `docbus inbox` process serving several org codes (a Sở and a university here): each code's
copy verified, stored in its own store and answered with its own sealed 01, through the real bus."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from infra.pki import Authority
from tests.ops.conftest import PASSPHRASE, Exchange
from tests.ops.test_mistakes import _one_line

pytestmark = pytest.mark.broker

SERVED = ("H03", "G03.U001")


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_one_inbox_process_answers_for_every_code_it_serves(exchange: Exchange, tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    doc = tmp_path / "cv.txt"
    doc.write_text("Công văn gửi hai đơn vị")
    bus = exchange.start_bus(tmp_path)
    try:
        to = [a for code in SERVED for a in ("--to", code)]
        sent = _ok(exchange.run("send", "--file", str(doc), "--org", "H01", *to, "--number", "21",
                                "--notation", "CV-HAI", "--subject", "hai đơn vị", "--timeout", "90",
                                DOCBUS_HOME=home))  # fmt: skip
        assert "accepted by the bus" in sent
        message_id = sent.split()[2]
        orgs = [a for code in SERVED for a in ("--org", code)]
        shown = json.loads(_ok(exchange.run("inbox", *orgs, "--json", DOCBUS_HOME=home)))
    finally:
        bus.stop()
    assert [s["org"] for s in shown["orgs"]] == list(SERVED)
    for shape in shown["orgs"]:
        stored = [d for d in shape["documents"] if d["message_id"] == message_id]
        assert stored and stored[0]["receipt_sent"], shape
        assert any(h["kind"] == "document" and h["message_id"] == message_id for h in shape["handled"])
        # each code's own store and its own sealed 01
        folder = tmp_path / "home" / "nodes" / shape["org"] / "inbox" / message_id
        assert (folder / "receipt.bin").is_file()
    text = _ok(exchange.run("inbox", *orgs, "--list", DOCBUS_HOME=home))
    assert all(code in text for code in SERVED)
    _one_line(exchange.run("inbox", DOCBUS_HOME=home), 2, "--org")
    # a code with a seal but no inbox topic yet (not in the directory): nothing to wait for
    Authority(exchange.pki, PASSPHRASE.encode()).issue_org("H72", "Sở chưa có hộp thư")
    alone = json.loads(_ok(exchange.run("inbox", "--org", "H72", "--org", "H03", "--json", DOCBUS_HOME=home)))
    assert [(s["org"], s["handled"]) for s in alone["orgs"]] == [("H72", []), ("H03", [])]


def test_a_directive_to_every_department_answered_by_one_process(exchange: Exchange, tmp_path: Path) -> None:
    """The documented way for a node serving many departments: `docbus inbox --every-org` (every
    code with a seal key in the PKI folder) answers the ministry's directive to all-departments, each
    department's copy with its own sealed 01; the positions land in each code's own group, so a
    process of one code afterwards has nothing left to read."""
    home = str(tmp_path / "home")
    doc = tmp_path / "cd.txt"
    doc.write_text("Chỉ thị gửi mọi Sở")
    bus = exchange.start_bus(tmp_path)
    try:
        sent = _ok(exchange.run("send", "--file", str(doc), "--org", "G03", "--group", "all-departments",
                                "--number", "7", "--notation", "CT-BGDĐT", "--subject", "chỉ thị",
                                "--timeout", "90", DOCBUS_HOME=home))  # fmt: skip
        assert "accepted by the bus" in sent
        message_id = sent.split()[2]
        shown = json.loads(_ok(exchange.run("inbox", "--every-org", "--once", "--json", DOCBUS_HOME=home)))
    finally:
        bus.stop()
    by_org = {s["org"]: s for s in shown["orgs"]}
    # the departments of the directory now (the merger test may have closed one into another)
    current = json.loads(_ok(exchange.run("directory", "show", "--json")))["entries"]
    departments = [e["code"] for e in current if e["kind"] == "department" and e["status"] == "active"]
    assert departments and set(departments) <= set(by_org)
    for code in departments:
        stored = [d for d in by_org[code]["documents"] if d["message_id"] == message_id]
        assert stored and stored[0]["receipt_sent"], by_org[code]
        assert stored[0]["verification"]["result"] == "valid"
        assert (tmp_path / "home" / "nodes" / code / "inbox" / message_id / "receipt.bin").is_file()
    alone = exchange.run("inbox", "--org", departments[0], "--once", "--json", DOCBUS_HOME=home)
    assert json.loads(_ok(alone))["handled"] == []
