"""One `docbus inbox` process serving several org codes (a Sở and a university here): each code's
copy verified, stored in its own store and answered with its own sealed 01, through the real bus."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from infra.pki import Authority
from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC
from tests.bus.kafka import BusProcess, start_group_at_end
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
    app_id = f"docbus-ops-{uuid.uuid4().hex[:8]}"
    asyncio.run(start_group_at_end(exchange.kafka, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC]))
    bus = BusProcess(exchange.env(DOCBUS_APP_ID=app_id, DOCBUS_SESSION_TIMEOUT="6"), tmp_path / "bus.log")
    bus.start()
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
