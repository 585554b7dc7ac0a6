"""docbus status rows: each recipient's history replayed through the lifecycle, who is outstanding,
and what on the topic is ignored (not sealed, not addressed) rather than counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.inbox.status import status_report, status_rows
from consumers.trust import TrustError
from producers.receipts import build_receipt
from schemas.canonical import receipt_signing_input
from schemas.lifecycle import Recall
from schemas.receipt import Receipt, StatusCode
from tests.node.conftest import NodePki

MID = "0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8b"
OTHER = "0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8c"
DOC = "G03,2025/09/01,7/BGDĐT-VP"
S = StatusCode
_T0: list[datetime] = []


@pytest.fixture(autouse=True)
def _clock(node_pki: NodePki) -> None:
    _T0[:] = [datetime.now(UTC)]  # after the certificates were issued: their seals verify


def _receipt(node_pki: NodePki, org: str, status: S, minute: int, mid: str = MID, **kw: str) -> bytes:
    return build_receipt(
        node_pki.identity(org), envelope_message_id=mid, document_id=DOC, signing_hash=bytes(32),
        to_org="G03" if status is not S.RECALL_REQUESTED else "G03.U001", status=status,
        at=_T0[0] + timedelta(milliseconds=10 * minute), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def _key(recipient: str, what: str, mid: str = MID) -> bytes:
    return f"{mid}/{recipient}/{what}".encode()


def test_rows_show_the_history_and_who_is_outstanding(node_pki: NodePki) -> None:
    notice = _receipt(node_pki, "G03.BUS", S.ARRIVED, 0)
    recall = _receipt(node_pki, "G03", S.RECALL_REQUESTED, 9, reason="sai số")
    records = [
        (_key("G03.U001", "routed"), notice),
        (_key("G03.U002", "routed"), notice),
        (_key("H01", "routed"), notice),
        (_key("G03.U001", "01"), _receipt(node_pki, "G03.U001", S.ARRIVED, 1)),
        (_key("G03.U001", "03"), _receipt(node_pki, "G03.U001", S.ACCEPTED, 2, by_name="Văn thư")),
        (_key("G03.U001", "06"), _receipt(node_pki, "G03.U001", S.DONE, 5)),
        (_key("H01", "02"), _receipt(node_pki, "H01", S.REJECTED, 1, reason="UNKNOWN_RECIPIENT: x")),
        (_key("G03.U001", "13"), recall),  # the recall keeps what came before it
        (_key("G03.U002", "13"), recall),
        (_key("H01", "13"), recall),
        (_key("H01", "15"), _receipt(node_pki, "H01", S.RECALL_AGREED, 10)),
        (_key("G03.U002", "routed", OTHER), _receipt(node_pki, "G03.BUS", S.ARRIVED, 0, mid=OTHER)),
        (_key("G03.U002", "01", OTHER), _receipt(node_pki, "G03.U002", S.ARRIVED, 1, mid=OTHER)),
        (b"garbage", b"not a receipt"),
    ]
    report = status_report(records, MID)
    rows = {r.recipient: r for r in report.rows}
    assert set(rows) == {"G03.U001", "G03.U002", "H01"}
    u1, u2, h01 = rows["G03.U001"], rows["G03.U002"], rows["H01"]
    assert set(u1.times) == {S.ARRIVED, S.ACCEPTED, S.DONE, S.RECALL_REQUESTED}
    assert u1.state.progress is S.DONE and u1.state.recall is Recall.REQUESTED and u1.stage == "recall asked"
    assert u2.state.progress is None and u2.routed_at is not None and u2.outstanding
    assert h01.stage == "recalled" and not h01.outstanding and h01.reason == ""
    assert [r.recipient for r in report.outstanding] == ["G03.U001", "G03.U002"]
    by_document = status_rows(records, DOC)  # both messages of the document
    assert {r.message_id for r in by_document} == {MID, OTHER}


def test_only_sealed_receipts_of_addressed_recipients_count(node_pki: NodePki) -> None:
    notice = _receipt(node_pki, "G03.BUS", S.ARRIVED, 0)
    policy = node_pki.policy()

    def verify(r: Receipt) -> bool:
        try:
            policy.verify_seal(receipt_signing_input(r), r.signatures, r.from_org, datetime.now(UTC))
        except TrustError:
            return False
        return True

    posing = _receipt(node_pki, "G03.U002", S.DONE, 3)  # G03.U002's seal, filed under G03.U001
    records = [
        (_key("G03.U001", "routed"), notice),
        (_key("G03.U001", "01"), _receipt(node_pki, "G03.U001", S.ARRIVED, 1)),
        (_key("G03.U001", "06"), posing),
        (_key("H01", "01"), _receipt(node_pki, "H01", S.ARRIVED, 1)),  # never addressed
        (_key("G03.U002", "routed"), _receipt(node_pki, "G03.U002", S.ARRIVED, 0)),  # not the bus's
    ]
    report = status_report(records, MID, verify=verify)
    assert [(r.recipient, r.stage) for r in report.rows] == [("G03.U001", "arrived")]
    assert {i.key.rsplit("/", 2)[1] for i in report.ignored} == {"G03.U001", "H01", "G03.U002"}
    assert len(report.ignored) == 3 and report.outstanding == report.rows
