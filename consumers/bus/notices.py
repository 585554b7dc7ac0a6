"""The bus's own status notices to a sender (ADR 0001): 01 accepted by the bus, 02 rejected with
the reason code. Sealed by the bus org (``G03.BUS``) with the node tooling's receipt builder.

A notice's id is derived from the envelope id, the status and the reason, so processing the same
record again after a crash yields the same id and the sender's inbox keeps it once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from producers.identity import NodeIdentity
from producers.receipts import make_receipt
from schemas.canonical import envelope_hash
from schemas.envelope import Envelope
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode

__all__ = ["BusNotices"]

_NAMESPACE = uuid.UUID("5f0b6f7e-7c1d-4a43-9a57-0d6f3c8e2b11")  # docbus bus notices


class BusNotices:
    def __init__(self, identity: NodeIdentity) -> None:
        self.identity = identity

    @property
    def org(self) -> str:
        return self.identity.org_code

    def accepted(self, env: Envelope, digest: bytes, *, to: str, at: datetime) -> Receipt:
        """01: the bus accepted ``env`` and routed it (``digest``: its envelope hash)."""
        return self._notice(env, digest, to, StatusCode.ARRIVED, "", at)

    def rejected(self, env: Envelope, reason: Reason, detail: str, *, to: str, at: datetime) -> Receipt:
        """02 with ``reason`` = "<REASON CODE>: <detail>" (the code first, machine-readable)."""
        text = f"{reason.value}: {detail}"[:1000]
        return self._notice(env, envelope_hash(env), to, StatusCode.REJECTED, text, at)

    def _notice(
        self, env: Envelope, digest: bytes, to: str, status: StatusCode, reason: str, at: datetime
    ) -> Receipt:
        name = f"{env.message_id}/{status.value}/{reason.split(':', 1)[0]}"
        return make_receipt(
            self.identity,
            envelope_message_id=env.message_id,
            document_id=env.document.document_id,
            envelope_hash=digest,
            to_org=to,
            status=status,
            reason=reason,
            by_name="docbus",
            by_position="bus",
            at=at,
            message_id=str(uuid.uuid5(_NAMESPACE, name)),
        )
