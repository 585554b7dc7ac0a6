"""docbus status rows: routed recipients, latest receipt per recipient, who has not answered."""

from __future__ import annotations

from consumers.inbox.status import status_rows
from producers.receipts import build_receipt
from schemas.receipt import StatusCode
from tests.node.conftest import NodePki

MID = "0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8b"
OTHER = "0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8c"
DOC = "G03,2025/09/01,7/BGDĐT-VP"


def _receipt(node_pki: NodePki, org: str, status: StatusCode, mid: str = MID, **kw: str) -> bytes:
    return build_receipt(
        node_pki.identity(org), envelope_message_id=mid, document_id=DOC, signing_hash=bytes(32),
        to_org="G03", status=status, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_rows_show_latest_status_and_who_is_waiting(node_pki: NodePki) -> None:
    notice = _receipt(node_pki, "G03.BUS", StatusCode.ARRIVED)
    records = [
        (f"{MID}/G03.U001/routed".encode(), notice),
        (f"{MID}/G03.U002/routed".encode(), notice),
        (f"{MID}/H01/routed".encode(), notice),
        (f"{MID}/G03.U001".encode(), _receipt(node_pki, "G03.U001", StatusCode.ARRIVED)),
        (f"{MID}/G03.U001".encode(), _receipt(node_pki, "G03.U001", StatusCode.ACCEPTED, by_name="Văn thư")),
        (
            f"{MID}/H01".encode(),
            _receipt(node_pki, "H01", StatusCode.REJECTED, reason="UNKNOWN_RECIPIENT: x"),
        ),
        (f"{OTHER}/G03.U002".encode(), _receipt(node_pki, "G03.U002", StatusCode.ARRIVED, mid=OTHER)),
        (b"garbage", b"not a receipt"),
        (f"{MID}/G03.U002".encode(), None),  # a tombstone
    ]
    rows = status_rows(records, MID)
    assert [(r.recipient, r.status) for r in rows] == [
        ("G03.U001", StatusCode.ACCEPTED), ("G03.U002", None), ("H01", StatusCode.REJECTED),
    ]  # fmt: skip
    assert rows[0].by == "Văn thư" and rows[2].reason.startswith("UNKNOWN_RECIPIENT")
    assert not rows[1].acknowledged and rows[1].routed_at is not None
    by_document = status_rows(records, DOC)  # both messages of the document
    assert {r.message_id for r in by_document} == {MID, OTHER}
