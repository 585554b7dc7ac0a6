"""The node side of continuity (docs/adr/0003-continuity.md), without a broker: one chain per
channel in the state folder, and resync from the bus's sealed notices — behind or forked: adopted;
ahead: kept; another channel's notices: ignored; a notice whose seal fails: never used."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producers.builder import build_envelope, sign_envelope
from producers.identity import NodeIdentity
from producers.node_state import ChainPosition, NodeState
from producers.receipts import make_receipt
from producers.resync import newest_position, resync
from producers.send import Outcome, Sender, bus_notice
from schemas.canonical import signing_hash
from schemas.codec import encode
from schemas.connection import KafkaConnection
from schemas.continuity import Chain
from schemas.receipt import Receipt, StatusCode
from tests.node.conftest import NodePki
from tests.node.drafts import draft

ORG = "G03.U001"


def _h(tag: str) -> bytes:
    return hashlib.sha256(tag.encode()).digest()


async def _commit(state: NodeState, tag: str) -> int:
    async with state.reserve() as slot:
        slot.commit(_h(f"{tag}{slot.sequence}"), b"envelope")
        state.sent(slot.sequence)
        return slot.sequence


def test_each_channel_has_its_own_files_lock_and_numbers(tmp_path: Path) -> None:
    cli, office = NodeState(tmp_path, ORG), NodeState(tmp_path, ORG, "eoffice")
    assert [asyncio.run(_commit(cli, "c")) for _ in range(3)] == [1, 2, 3]
    assert [asyncio.run(_commit(office, "e")) for _ in range(2)] == [1, 2]
    assert cli.path.name == f"{ORG}.state.json" and office.path.name == f"{ORG}+eoffice.state.json"
    assert cli.read().sequence == 3 and office.read().sequence == 2
    assert cli.outbox != office.outbox and cli.sent_dir == office.sent_dir
    with pytest.raises(ValueError):
        NodeState(tmp_path, ORG, "E Office")


def _notice(bus: NodeIdentity, channel: str, sequence: int, tag: str, minutes: int = 0) -> Receipt:
    return make_receipt(
        bus, envelope_message_id=f"00000000-0000-4000-8000-{sequence:012d}",
        document_id=f"{ORG},2026/03/01,{sequence}/TEST",
        signing_hash=_h(tag), to_org=ORG, status=StatusCode.ARRIVED,
        at=datetime.now(UTC) + timedelta(milliseconds=minutes),
        chain=Chain(channel=channel, sequence=sequence, signing_hash=_h(tag)),
    )  # fmt: skip


def test_a_lost_or_rolled_back_folder_takes_the_newest_sealed_position(
    node_pki: NodePki, tmp_path: Path
) -> None:
    bus = node_pki.identity("G03.BUS", official=None)
    notices = [_notice(bus, "", 4, "d4", 1), _notice(bus, "", 6, "d6", 3), _notice(bus, "", 5, "d5", 2),
               _notice(bus, "eoffice", 9, "e9", 4)]  # fmt: skip
    assert newest_position(notices, "") is notices[1] and newest_position(notices, "eoffice") is notices[3]
    state = NodeState(tmp_path, ORG)
    for _ in range(2):
        asyncio.run(_commit(state, "old"))  # a backup taken at sequence 2
    report = asyncio.run(resync(state, notices))
    assert report.adopted and report.local.sequence == 2 and state.read() == ChainPosition(6, _h("d6"))
    assert "adopted" in report.explain() and "next envelope is sequence 7" in report.explain()
    again = asyncio.run(resync(state, notices))  # nothing left to do
    assert not again.adopted and "in sync" in again.explain()
    lost = NodeState(tmp_path / "lost", ORG, "eoffice")  # a folder gone entirely
    assert asyncio.run(resync(lost, notices)).adopted and lost.read() == ChainPosition(9, _h("e9"))


def test_a_node_ahead_of_the_notices_is_kept_and_a_fork_is_adopted(
    node_pki: NodePki, tmp_path: Path
) -> None:
    bus = node_pki.identity("G03.BUS", official=None)
    state = NodeState(tmp_path, ORG)
    for _ in range(3):
        asyncio.run(_commit(state, "n"))
    ahead = asyncio.run(resync(state, [_notice(bus, "", 2, "n2")]))
    assert not ahead.adopted and "1 ahead" in ahead.explain() and state.read().sequence == 3
    forked = asyncio.run(resync(state, [_notice(bus, "", 3, "other3")]))  # another envelope 3 on the bus
    assert forked.adopted and state.read() == ChainPosition(3, _h("other3"))
    none = asyncio.run(resync(state, [_notice(bus, "cli", 8, "c8")]))
    assert none.bus is None and not none.adopted and "no sealed notice" in none.explain()


def test_only_a_notice_sealed_by_the_bus_counts(node_pki: NodePki) -> None:
    bus = node_pki.identity("G03.BUS", official=None)
    notice = _notice(bus, "", 4, "d4")
    policy = node_pki.policy()
    assert bus_notice(encode(notice), policy) == notice
    # another org's seal over a "bus" position, or a position changed after sealing
    other = _notice(node_pki.identity("G03.U002", official=None), "", 40, "x")
    forged = other.model_copy(update={"from_org": "G03.BUS"})
    moved = notice.model_copy(update={"chain": Chain(sequence=40, signing_hash=_h("x"))})
    assert bus_notice(encode(forged), policy) is None and bus_notice(encode(moved), policy) is None


def test_a_send_resyncs_only_on_a_02_that_did_not_count_its_envelope(
    node_pki: NodePki, tmp_path: Path
) -> None:
    ident = node_pki.identity(ORG)
    sender = Sender(ident, KafkaConnection(bootstrap="127.0.0.1:1"), tmp_path, watch=False, channel="eoffice",
                    policy=node_pki.policy())  # fmt: skip
    unsigned = build_envelope(ident, draft(), sequence=2, previous_hash=_h("x"))
    env, _ = sign_envelope(ident, unsigned.model_copy(update={"channel": "eoffice"}))
    digest = signing_hash(env)
    now = datetime.now(UTC)

    bus_identity = node_pki.identity("G03.BUS", official=None)

    def told(status: StatusCode, reason: str, chain: Chain | None) -> Chain | None:
        notice = make_receipt(
            bus_identity, envelope_message_id=env.message_id, document_id=env.document.document_id,
            signing_hash=digest, to_org=ORG, status=status, reason=reason or None, chain=chain,
        )  # fmt: skip
        return sender._uncounted(digest, Outcome(status, reason, now, "n", chain, notice))

    bus = Chain(channel="eoffice", sequence=7, signing_hash=_h("b7"))
    assert told(StatusCode.REJECTED, "REPLAY: sequence 2 <= last accepted 7", bus) == bus
    assert told(StatusCode.REJECTED, "SEQUENCE_GAP: sequence 9 skips 8..8", bus) == bus
    counted = Chain(channel="eoffice", sequence=2, signing_hash=digest)
    assert told(StatusCode.REJECTED, "SEQUENCE_GAP: whatever", counted) is None  # counted after all
    assert told(StatusCode.REJECTED, "UNKNOWN_RECIPIENT: H99", bus) is None  # another refusal: counted
    assert told(StatusCode.ARRIVED, "", bus) is None
    assert told(StatusCode.REJECTED, "SEQUENCE_GAP: x", None) is None  # an older bus: nothing to go by
    other = Chain(channel="cli", sequence=7, signing_hash=_h("b7"))
    assert told(StatusCode.REJECTED, "SEQUENCE_GAP: x", other) is None  # another channel's position
    delivered = f"REPLAY: message id {env.message_id} already accepted"
    assert told(StatusCode.REJECTED, delivered, bus) is None  # the id was delivered: no new copy
