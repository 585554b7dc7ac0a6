"""The receipt lifecycle recomputed from docbus.status records (consumers/bus/decide/rebuild.py),
without a broker: each recipient's receipts replayed in time order; a recall kept; routing facts,
tombstones and undecodable values skipped; every entry keyed by its document's sender."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from consumers.bus.decide.rebuild import rebuild_lifecycle
from producers.receipts import build_receipt
from schemas.lifecycle import Recall, RecipientState
from schemas.receipt import StatusCode
from schemas.topics import status_key
from tests.bus.world import World

S = StatusCode
MID = "00000000-0000-4000-8000-000000000042"


def _receipt(world: World, org: str, status: StatusCode, to: str, minutes: int) -> bytes:
    return build_receipt(
        world.identities[org], envelope_message_id=MID, document_id="G03,2026/03/01,42/TEST",
        signing_hash=hashlib.sha256(b"doc").digest(), to_org=to, status=status,
        reason="không" if status.needs_reason else None,
        at=datetime.now(UTC) - timedelta(minutes=60 - minutes),
    )  # fmt: skip


def test_each_recipient_state_and_the_recall_come_back(world: World) -> None:
    h01 = [(S.ARRIVED, 1), (S.ACCEPTED, 2)]
    records: list[tuple[bytes | None, bytes | None]] = [
        (status_key(MID, "H01", s.value).encode(), _receipt(world, "H01", s, "G03", m))
        for s, m in reversed(h01)
    ]
    records += [
        (status_key(MID, "H02", "01").encode(), _receipt(world, "H02", S.ARRIVED, "G03", 1)),
        (status_key(MID, "H02", "13").encode(), _receipt(world, "G03", S.RECALL_REQUESTED, "H01", 3)),
        (status_key(MID, "H02", "15").encode(), _receipt(world, "H02", S.RECALL_AGREED, "G03", 4)),
        (status_key(MID, "H02", "routed").encode(), b"a routing fact"),
        (status_key(MID, "H03", "01").encode(), b"not a receipt"),
        (status_key(MID, "H04", "01").encode(), _receipt(world, "H04", S.ARRIVED, "G03", 1)),
        (status_key(MID, "H04", "01").encode(), None),  # a tombstone: gone
    ]
    rebuilt = rebuild_lifecycle(records)
    states = {k.decode(): (key, RecipientState.from_bytes(v)) for k, (key, v) in rebuilt.lifecycle.items()}
    assert states == {
        f"{MID}/H01": ("G03", RecipientState(S.ACCEPTED)),  # replayed by time, not topic order
        f"{MID}/H02": ("G03", RecipientState(S.ARRIVED, Recall.AGREED)),
    }
    ((key, (sender, _)),) = rebuilt.recalls.items()
    assert key == MID.encode() and sender == "G03"
