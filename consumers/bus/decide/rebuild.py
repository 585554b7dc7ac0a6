"""The receipt lifecycle recomputed from ``docbus.status``, for a bus upgraded in place.

A bus that ran before the ``lifecycle`` table existed (or lost its changelog) would otherwise judge
every receipt about a document routed earlier as if its recipient had said nothing yet, and refuse a
03 after a 01 it never saw (RECEIPT_ORDER) — silently wrong. ``docbus.status`` holds every receipt
the bus accepted, one record per recipient and code (compaction keeps each), so the table can be
recomputed: each recipient's receipts replayed in the order of their times through
schemas/lifecycle.py, the rule the bus enforces. Only the bus writes that topic. Pure: records in,
table entries out (the Kafka part is consumers/bus/rebuild.py).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.errors import ContractError
from schemas.lifecycle import RecipientState, follow
from schemas.receipt import Receipt, StatusCode, parse_receipt, receipt_record_key
from schemas.topics import ROUTED, parse_status_key

__all__ = ["Rebuilt", "rebuild_lifecycle"]


@dataclass(slots=True)
class Rebuilt:
    """Table entries, each with the record key of its document's receipts (its partition)."""

    lifecycle: dict[bytes, tuple[str, bytes]] = field(default_factory=dict)  # mid/recipient -> state
    recalls: dict[bytes, tuple[str, bytes]] = field(default_factory=dict)  # mid -> the 13's id


def rebuild_lifecycle(records: Iterable[tuple[bytes | None, bytes | None]]) -> Rebuilt:
    """From the records of ``docbus.status`` (key, value), in topic order."""
    latest: dict[bytes, tuple[str, str, Receipt]] = {}
    for key, value in records:
        parsed = parse_status_key((key or b"").decode("utf-8", "replace"))
        if parsed is None or value is None:
            latest.pop(key or b"", None)  # a tombstone: nothing kept under it
            continue
        mid, recipient, what = parsed
        if what in ("", ROUTED):
            continue  # a routing fact, or the latest receipt as a bus before per-code keys wrote it
        with contextlib.suppress(ContractError):
            latest[key or b""] = (mid, recipient, parse_receipt(value))
    each: dict[tuple[str, str], list[Receipt]] = defaultdict(list)
    for mid, recipient, receipt in latest.values():
        each[(mid, recipient)].append(receipt)
    out = Rebuilt()
    for (mid, recipient), receipts in sorted(each.items()):
        state = RecipientState()
        for receipt in sorted(receipts, key=lambda r: (r.at, r.status.value)):
            with contextlib.suppress(ContractError):  # one the bus let by before it checked the order
                state = follow(state, receipt.status)
            if receipt.status is StatusCode.RECALL_REQUESTED:
                out.recalls[mid.encode()] = (receipt_record_key(receipt), receipt.message_id.encode())
        out.lifecycle[f"{mid}/{recipient}".encode()] = (receipt_record_key(receipts[0]), state.to_bytes())
    return out
