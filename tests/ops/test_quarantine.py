"""An operator inspects and releases a quarantined envelope through the command line: a university
not in the directory sends; the bus refuses it (UNKNOWN_SENDER, sender not told); the operator lists,
shows and exports it, then releases the kept bytes, and the bus makes a fresh decision on them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from infra.pki import Authority
from producers.identity import NodeIdentity
from schemas.topics import INGRESS_TOPIC
from tests.bus.kafka import produce
from tests.bus.world import Sender
from tests.ops.conftest import PASSPHRASE, Exchange

pytestmark = pytest.mark.broker


def _json(done: object) -> dict[str, object]:
    assert done.returncode == 0, done.stderr + done.stdout  # type: ignore[attr-defined]
    return json.loads(done.stdout)  # type: ignore[attr-defined, no-any-return]


def test_inspect_and_release_a_quarantined_envelope(exchange: Exchange, tmp_path: Path) -> None:
    run = exchange.run
    ca = Authority(exchange.pki, PASSPHRASE.encode())
    ca.issue_org("G03.U009", "Trường Đại học Mới")
    ca.issue_official("G03.U009", "Hiệu trưởng Mới", "Hiệu trưởng")
    newcomer = NodeIdentity.from_pki(exchange.pki, "G03.U009", PASSPHRASE, "*")
    snapshot = bytes.fromhex(str(_json(run("directory", "show", "--json"))["snapshot"]))
    env, raw = Sender(newcomer, snapshot).envelope(("H01",))
    bus = exchange.start_bus(tmp_path)
    try:
        asyncio.run(produce(exchange.kafka, INGRESS_TOPIC, [(b"G03.U009", raw)]))
        listed: list[dict[str, object]] = []
        for _ in range(60):  # the bus decides once it has joined its group: poll the command itself
            if listed:
                break
            found = _json(run("quarantine", "list", "--reason", "UNKNOWN_SENDER", "--sender", "G03.U009",
                              "--json"))  # fmt: skip
            listed = [i for i in found["items"] if i["message_id"] == env.message_id]  # type: ignore[attr-defined]
        assert listed, "the bus did not quarantine the envelope"
        item = listed[0]
        assert item["sender_told"] is False and item["raw_size"] == len(raw)
        assert item["source"]["topic"] == INGRESS_TOPIC  # type: ignore[index]
        shown = _json(run("quarantine", "show", env.message_id, "--json"))
        assert shown["raw_sha256"] == item["raw_sha256"] and shown["reason"] == "UNKNOWN_SENDER"
        done = run("quarantine", "export", "--out", str(tmp_path / "q"), env.message_id)
        assert done.returncode == 0 and (tmp_path / "q" / f"{item['offset']}.bin").read_bytes() == raw
        # released: the kept bytes go back to ingress and the bus decides again (here it refuses again:
        # the envelope names a snapshot without its sender, so only a fix of trust material or of a
        # snapshot the bus lacked lets it through — what is checked is the fresh decision itself)
        released = _json(run("quarantine", "release", env.message_id, "--note", "after the fix", "--json"))
        assert released["released"] == env.message_id
        again: list[dict[str, object]] = []
        for _ in range(60):
            found = _json(run("quarantine", "list", "--sender", "G03.U009", "--json"))
            again = [i for i in found["items"] if i["message_id"] == env.message_id]  # type: ignore[attr-defined]
            if len(again) == 2:
                break
        assert len(again) == 2 and again[1]["offset"] != again[0]["offset"]
    finally:
        bus.stop()
