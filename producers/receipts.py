"""Sealed status receipts (edXML status package): built by recipients, clerks and the bus itself.

A receipt answers one exact envelope (its ``signing_hash``) and is sealed with the organisation
key over ``schemas.canonical.receipt_signing_input``. Who may send which status (edXML): 13 only
the original sender; 15/16 only a recipient answering a 13; the rest recipients (or the bus, 01/02).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Required, TypedDict, Unpack

from pydantic import ValidationError

from producers.identity import NodeIdentity
from producers.keys import make_signature
from schemas.canonical import receipt_signing_input, signing_hash
from schemas.codec import encode
from schemas.continuity import Chain
from schemas.envelope import Envelope
from schemas.fields import utc_millis
from schemas.receipt import Receipt, StatusCode
from schemas.signature import SignerRole
from schemas.text import nfc

__all__ = ["ReceiptFields", "build_receipt", "make_receipt", "receipt_for"]


def make_receipt(
    identity: NodeIdentity,
    *,
    envelope_message_id: str,
    document_id: str,
    signing_hash: bytes,
    to_org: str,
    status: StatusCode,
    reason: str | None = None,
    by_name: str = "",
    by_position: str = "",
    at: datetime | None = None,
    message_id: str | None = None,
    chain: Chain | None = None,
) -> Receipt:
    """The sealed receipt model (``chain``: a bus notice's chain position, schemas/continuity.py).
    Raises ValueError for fields the contract refuses (a 02 or 16
    without a reason, a bad org code...) and SigningError when the seal cannot sign."""
    when = utc_millis(at or datetime.now(UTC))  # the wire's precision, for signing_time too
    try:
        unsigned = Receipt(
            message_id=message_id or str(uuid.uuid4()),
            envelope_id=envelope_message_id,
            signing_hash=signing_hash,
            document_id=document_id,
            from_org=identity.org_code,
            to_org=to_org,
            status=StatusCode(status),
            reason=nfc(reason or ""),  # typed by a clerk: NFC before it is signed (schemas/text.py)
            by_name=nfc(by_name),
            by_position=nfc(by_position),
            at=when,
            chain=chain,
        )
    except ValidationError as exc:
        raise ValueError(f"receipt refused: {exc.errors()[0]['msg']}") from None
    seal = make_signature(identity.seal, SignerRole.ORGANIZATION, receipt_signing_input(unsigned), when)
    return unsigned.model_copy(update={"signatures": [seal]})


class ReceiptFields(TypedDict, total=False):
    """The keyword arguments of :func:`make_receipt` after the identity."""

    envelope_message_id: Required[str]
    document_id: Required[str]
    signing_hash: Required[bytes]
    to_org: Required[str]
    status: Required[StatusCode]
    reason: str | None
    by_name: str
    by_position: str
    at: datetime | None
    message_id: str | None


def build_receipt(identity: NodeIdentity, **fields: Unpack[ReceiptFields]) -> bytes:
    """:func:`make_receipt`, encoded (Avro single-object): the bytes to produce."""
    return encode(make_receipt(identity, **fields))


def receipt_for(
    identity: NodeIdentity,
    envelope: Envelope,
    status: StatusCode,
    reason: str | None = None,
    *,
    by_name: str = "",
    by_position: str = "",
    at: datetime | None = None,
    to_org: str | None = None,
) -> Receipt:
    """A receipt answering ``envelope``, sealed by ``identity``; to its sender unless ``to_org``
    says otherwise (a 13 recall request goes from the sender to the recipients)."""
    return make_receipt(
        identity,
        envelope_message_id=envelope.message_id,
        document_id=envelope.document.document_id,
        signing_hash=signing_hash(envelope),
        to_org=to_org or envelope.sender.code,
        status=status,
        reason=reason,
        by_name=by_name,
        by_position=by_position,
        at=at,
    )
