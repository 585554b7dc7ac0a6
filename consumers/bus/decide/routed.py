"""What the bus remembers of each routed envelope, for receipts and crash re-processing.

Kept in a faust table keyed by message id (consumers/bus/app.py); the bytes are compact JSON so a
changelog topic can be read by people too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["RoutedRecord"]


@dataclass(frozen=True, slots=True)
class RoutedRecord:
    sender: str  # dotted code of the original sender
    recipients: tuple[str, ...]  # dotted codes the envelope was delivered to
    signing_hash: bytes  # schemas.canonical.signing_hash of the envelope
    document_id: str
    position: tuple[int, int]  # ingress (partition, offset) it was accepted from

    def to_bytes(self) -> bytes:
        doc = {
            "sender": self.sender,
            "recipients": list(self.recipients),
            "signing_hash": self.signing_hash.hex(),
            "document_id": self.document_id,
            "position": list(self.position),
        }
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> RoutedRecord:
        """Raises ValueError for bytes this module did not write (a bug or corruption, not input)."""
        try:
            doc = json.loads(data)
            partition, offset = doc["position"]
            return cls(
                sender=str(doc["sender"]),
                recipients=tuple(str(c) for c in doc["recipients"]),
                # "envelope_hash": the same value, as tables written before the rename hold it
                signing_hash=bytes.fromhex(doc.get("signing_hash") or doc["envelope_hash"]),
                document_id=str(doc["document_id"]),
                position=(int(partition), int(offset)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"corrupt routed record: {exc}") from exc
