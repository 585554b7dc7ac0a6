"""The bus's routing proof: its seal that it decided this copy of an envelope for this recipient.

Every inbox copy the bus writes carries one in the ``docbus_route_proof`` header (Avro single
object). A recipient verifies the proof's seal as the bus org's, and that it names the copy it
came with: the envelope's message id, its signing hash (``schemas.canonical.signing_hash``), the
recipient itself and the directory snapshot the envelope was routed under. A copy written into an
inbox by anyone else — even one carrying valid sender signatures — has no such proof and is refused
(``Reason.NOT_ROUTED``). The signing input is domain separated and length prefixed like the
envelope's (docs/ENVELOPE.md §4): ``docbus/route-proof/v1\\n`` + message id + envelope hash +
recipient + snapshot.
"""

from __future__ import annotations

import struct
from typing import Annotated

from pydantic import ConfigDict, Field

from schemas.codec import AvroModel
from schemas.fields import MessageId, OrgCode, Sha256
from schemas.signature import Signature

__all__ = ["ROUTE_PROOF_CONTEXT", "ROUTE_PROOF_HEADER", "RouteProof", "route_proof_signing_input"]

ROUTE_PROOF_CONTEXT = b"docbus/route-proof/v1\n"
ROUTE_PROOF_HEADER = "docbus_route_proof"
MAX_PROOF_BYTES = 16 * 1024  # a proof is a few hundred bytes plus the bus's certificate chain

_U32 = struct.Struct(">I").pack


def _lp(value: bytes) -> bytes:
    return _U32(len(value)) + value


def route_proof_signing_input(
    message_id: str, signing_hash: bytes, recipient: str, snapshot: bytes
) -> bytes:
    return b"".join(
        [
            ROUTE_PROOF_CONTEXT,
            _lp(message_id.encode()),
            _lp(signing_hash),
            _lp(recipient.encode()),
            _lp(snapshot),
        ]
    )


class RouteProof(AvroModel):
    """Sealed by the bus org over :func:`route_proof_signing_input` of its own fields."""

    avro_schema = "route_proof.v2"
    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: MessageId
    signing_hash: Sha256
    recipient: OrgCode
    snapshot: Annotated[bytes, Field(min_length=32, max_length=32)]
    signature: Signature

    def signing_input(self) -> bytes:
        return route_proof_signing_input(self.message_id, self.signing_hash, self.recipient, self.snapshot)
