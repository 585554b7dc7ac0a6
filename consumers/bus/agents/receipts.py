"""receipts: a recipient's (or, for a recall, the sender's) sealed receipt, checked and forwarded.

Accepted: the exact bytes to each target inbox, ``docbus.status`` keyed
``<envelope id>/<recipient>/<status>``, the recipients' lifecycle states,
audit RECEIPT (and DELIVERED for a recipient's 01). Refused: quarantine and audit REJECTED
(consumers/bus/outputs.py, receipt_outputs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from consumers.bus.agents.batches import Futures, run_batches
from consumers.bus.decide.receipt_check import ReceiptDecision, ReceiptRejected
from consumers.bus.outputs import Source, receipt_outputs
from producers.fetch_guard import refusal
from schemas.lifecycle import RecipientState

if TYPE_CHECKING:
    from faust.types import StreamT

    from consumers.bus.app import Bus, SourceRecord

__all__ = ["handle_receipt", "register"]


def register(bus: Bus) -> None:
    @bus.app.agent(bus.receipts, name="docbus.receipts")
    async def receipts(stream: StreamT[Any]) -> None:
        # as validate_route
        await run_batches(bus, stream, bus.receipt_gaps, handle_receipt, bus.receipt_lanes)


async def handle_receipt(bus: Bus, msg: SourceRecord) -> Futures:
    """Decide on one receipt and hand its outputs to the producer; returns their acknowledgements."""
    raw: bytes = msg.value or b""
    now = datetime.now(UTC)
    refused = refusal(msg.headers)  # a batch the consumer refused to decode (producers/fetch_guard.py)
    decision: ReceiptDecision = ReceiptRejected(*refused) if refused is not None else bus.receipt_check.check(
        raw,
        now=now,
        routed_of=bus.routed_of,
        recall_requested=lambda mid: bus.recalls.get(mid.encode()) is not None,
        lifecycle_of=lambda mid, code: _state(bus.lifecycle.get(f"{mid}/{code}".encode())),
        key=msg.key or b"",  # a record without a key sits on any partition: refused RECORD_KEY
    )
    src = Source(msg.topic, msg.partition, msg.offset, msg.key, now, bus.processor_headers)
    return await bus.apply(receipt_outputs(decision, raw, src), msg.partition)


def _state(stored: bytes | None) -> RecipientState:
    return RecipientState() if stored is None else RecipientState.from_bytes(stored)
