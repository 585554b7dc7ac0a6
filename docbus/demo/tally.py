"""What the demo saw, counted per document: deliveries, receipts, rejections (no I/O).

The counts come from the recipients' and senders' side: a delivery is a copy an inbox client
verified and stored; an acknowledgement is a recipient's sealed receipt forwarded by the bus to
the sender's inbox (its seal checked again there). So "63 delivered" means 63 departments hold
the directive, not that the bus says it sent 63 copies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DocumentTally", "Rejection", "Tally"]


@dataclass
class DocumentTally:
    label: str  # "directive 12/CT-BGDĐT"
    message_id: str
    document_id: str
    sender: str
    expected: tuple[str, ...]  # the recipients the directory resolves the addresses to
    notice: str = ""  # the bus's notice to the sender: 01, or 02 with its reason
    delivered: set[str] = field(default_factory=set)
    copies: int = 0  # every copy an inbox client was handed (a second one is a duplicate)
    receipts: dict[str, dict[str, str]] = field(default_factory=dict)  # status -> {org: reason}

    def answered(self, status: str) -> int:
        return len(self.receipts.get(status, {}))

    @property
    def complete(self) -> bool:
        expected = set(self.expected)
        final = set(self.receipts.get("03", {})) | set(self.receipts.get("02", {}))
        arrived = set(self.receipts.get("01", {}))
        return self.delivered == expected and arrived >= expected and final >= expected

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label, "message_id": self.message_id, "document_id": self.document_id,
            "sender": self.sender, "recipients": len(self.expected), "bus_notice": self.notice,
            "delivered": len(self.delivered), "copies": self.copies,
            "duplicates": self.copies - len(self.delivered), "arrived_01": self.answered("01"),
            "accepted_03": self.answered("03"), "refused_02": self.answered("02"),
            "refusals": dict(sorted(self.receipts.get("02", {}).items())),
            "missing": sorted(set(self.expected) - self.delivered),
        }  # fmt: skip


@dataclass
class Rejection:
    label: str
    message_id: str
    sender: str
    why: str  # what was wrong with it, in words
    notice: str = ""  # the bus's 02 notice to the sender, with its reason code
    quarantined: str = ""  # the reason code of its quarantine record

    @property
    def complete(self) -> bool:
        """The sender was told; the quarantine record is read after the exchange."""
        return bool(self.notice)

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "message_id": self.message_id, "sender": self.sender,
                "why": self.why, "bus_notice": self.notice, "reason": self.quarantined}  # fmt: skip


@dataclass
class Tally:
    documents: dict[str, DocumentTally] = field(default_factory=dict)  # by document id
    rejections: dict[str, Rejection] = field(default_factory=dict)  # by document id
    events: Counter[str] = field(default_factory=Counter)  # inbox events by kind

    def knows(self, document_id: str) -> bool:
        return document_id in self.documents or document_id in self.rejections

    def delivered(self, document_id: str, org: str) -> None:
        doc = self.documents.get(document_id)
        if doc is not None:
            doc.copies += 1
            doc.delivered.add(org)

    def receipt(self, document_id: str, org: str, status: str, reason: str) -> None:
        doc = self.documents.get(document_id)
        if doc is not None and org in doc.expected:
            doc.receipts.setdefault(status, {})[org] = reason

    @property
    def complete(self) -> bool:
        docs = all(d.complete for d in self.documents.values())
        return docs and all(r.complete for r in self.rejections.values())

    def waiting_for(self) -> int:
        """Deliveries and answers still outstanding (for the progress bar)."""
        left = 0
        for d in self.documents.values():
            n = len(d.expected)
            left += n - len(d.delivered) + n - d.answered("01") + n - d.answered("03") - d.answered("02")
        return left + sum(not r.notice for r in self.rejections.values())

    def total(self) -> int:
        return sum(3 * len(d.expected) for d in self.documents.values()) + len(self.rejections)

    @property
    def quarantined(self) -> bool:
        return all(r.quarantined for r in self.rejections.values())
