"""Build and sign an envelope from friendly inputs (a draft), as a node does before publishing.

The node fills what the bus checks: ``document_id`` from the sender code, date, số and ký hiệu;
its next ``sequence`` and the ``previous_hash`` from its node state; the ``directory_snapshot``
its addresses were chosen against. It runs the contract's own checks (secret, limits, digests,
size) before signing, so it never signs what the bus would refuse.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from producers.identity import NodeIdentity
from producers.keys import sign_dual, staple
from schemas.canonical import envelope_signing_input
from schemas.codec import encode
from schemas.document import (
    BusinessType,
    Competence,
    DocumentType,
    Priority,
    SteeringType,
    format_document_id,
)
from schemas.envelope import ZERO_HASH, Envelope, check_envelope
from schemas.errors import ContractError
from schemas.fields import utc_millis
from schemas.header import DocumentHeader, SignerInfo
from schemas.limits import DEFAULT_LIMITS, Limits, check_message_size
from schemas.orgcode import canonical_org_code
from schemas.payload import Payload
from schemas.reasons import Reason
from schemas.signature import SignerRole
from schemas.text import nfc

__all__ = [
    "DocumentDraft",
    "EnvelopeSource",
    "build_envelope",
    "content_type_of",
    "payload_from_file",
    "prepare_envelope",
    "sign_envelope",
]

_DEFAULT_TYPE = "application/octet-stream"


def content_type_of(path: Path, content_type: str | None = None) -> str:
    """The given type, else the one guessed from the file name, else application/octet-stream."""
    guessed, _ = mimetypes.guess_type(Path(path).name)
    return (content_type or guessed or _DEFAULT_TYPE).lower()


def payload_from_file(path: Path, content_type: str | None = None) -> Payload:
    """A payload of the file's bytes under its bare name; the type guessed from the name."""
    path = Path(path)
    return Payload.of(path.name, content_type_of(path, content_type), path.read_bytes())


@dataclass(frozen=True)
class DocumentDraft:
    """What a clerk fills in; everything else comes from the identity and the node state."""

    document_type: DocumentType
    code_number: str  # số
    code_notation: str  # ký hiệu
    subject: str  # trích yếu
    payload: Payload
    recipients: Sequence[str] = ()
    groups: Sequence[str] = ()
    attachments: Sequence[Payload] = ()
    promulgation_place: str = "Hà Nội"
    promulgation_date: date | None = None  # today (UTC) when None
    competence: Competence = Competence.NONE
    priority: Priority = Priority.NORMAL
    due_date: date | None = None
    places: Sequence[str] = ()
    steering_type: SteeringType = SteeringType.NOT_STEERING
    response_for: str | None = None
    business_type: BusinessType = BusinessType.NEW
    contact: dict[str, str] = field(default_factory=dict)  # sender in_charge, address, email...


class EnvelopeSource(Protocol):
    """A document that brings its own header (an imported edXML package): the node only numbers it."""

    def envelope(
        self, *, message_id: str, sequence: int, previous_hash: bytes, directory_snapshot: bytes
    ) -> Envelope: ...


def prepare_envelope(
    identity: NodeIdentity,
    draft: DocumentDraft | EnvelopeSource,
    *,
    sequence: int,
    previous_hash: bytes,
    directory_snapshot: bytes,
    message_id: str | None = None,
    sender_name: str | None = None,
) -> Envelope:
    """The unsigned envelope of a draft or a source; a source must name this node as its sender.
    ``message_id`` is chosen by the caller when it must be known before sending (an idempotent
    retry), else a fresh UUID. ``sender_name``: the org's name in the directory snapshot (the bus
    refuses another, SENDER_NAME); it replaces a source's own."""
    if isinstance(draft, DocumentDraft):
        return build_envelope(
            identity,
            draft,
            sequence=sequence,
            previous_hash=previous_hash,
            directory_snapshot=directory_snapshot,
            message_id=message_id,
            sender_name=sender_name,
        )
    env = draft.envelope(
        message_id=message_id or str(uuid.uuid4()), sequence=sequence, previous_hash=previous_hash,
        directory_snapshot=directory_snapshot,
    )  # fmt: skip
    if canonical_org_code(env.sender.code) != canonical_org_code(identity.org_code):
        detail = f"the document is from {env.sender.code}; this node signs for {identity.org_code}"
        raise ContractError(Reason.ORG_MISMATCH, detail)
    if sender_name is not None and env.sender.name != sender_name:
        env = env.model_copy(update={"sender": env.sender.model_copy(update={"name": sender_name})})
    return env


def _typed_text_nfc(draft: DocumentDraft) -> DocumentDraft:
    """What a clerk typed, in NFC (the contract refuses other forms: schemas/text.py)."""
    return replace(
        draft, code_number=nfc(draft.code_number), code_notation=nfc(draft.code_notation),
        subject=nfc(draft.subject), promulgation_place=nfc(draft.promulgation_place),
        places=[nfc(p) for p in draft.places], contact={k: nfc(v) for k, v in draft.contact.items()},
    )  # fmt: skip


def build_envelope(
    identity: NodeIdentity,
    draft: DocumentDraft,
    *,
    sequence: int = 1,
    previous_hash: bytes = ZERO_HASH,
    directory_snapshot: bytes = ZERO_HASH,
    message_id: str | None = None,
    created_at: datetime | None = None,
    sender_name: str | None = None,
) -> Envelope:
    """The unsigned envelope; ContractError(INVALID_FIELD) for a draft the contract refuses.
    ``sender_name``: the org's name as the directory snapshot states it (the bus refuses another,
    SENDER_NAME); None takes the seal certificate's common name."""
    now = created_at or datetime.now(UTC)
    day = draft.promulgation_date or now.astimezone(UTC).date()
    draft = _typed_text_nfc(draft)
    try:
        header = DocumentHeader(
            document_id=format_document_id(identity.org_code, day, draft.code_number, draft.code_notation),
            code_number=draft.code_number,
            code_notation=draft.code_notation,
            document_type=draft.document_type,
            subject=draft.subject,
            promulgation_place=draft.promulgation_place,
            promulgation_date=day,
            signer=SignerInfo(
                competence=draft.competence,
                position=identity.official_position or "Người ký",
                full_name=identity.official_name or identity.org_name,
            ),
            priority=draft.priority,
            due_date=draft.due_date,
            places=list(draft.places),
            steering_type=draft.steering_type,
            response_for=draft.response_for,
            business_type=draft.business_type,
        )
        return Envelope(
            message_id=message_id or str(uuid.uuid4()),
            sender=identity.organization(name=sender_name, **draft.contact),
            recipients=list(draft.recipients),
            groups=list(draft.groups),
            document=header,
            created_at=now,
            sequence=sequence,
            previous_hash=previous_hash,
            directory_snapshot=directory_snapshot,
            payload=draft.payload,
            attachments=list(draft.attachments),
        )
    except (ValidationError, ValueError) as exc:
        raise ContractError(Reason.INVALID_FIELD, _first_error(exc)) from None


def sign_envelope(
    identity: NodeIdentity,
    envelope: Envelope,
    *,
    limits: Limits = DEFAULT_LIMITS,
    at: datetime | None = None,
    ocsp: Mapping[SignerRole, Sequence[bytes]] | None = None,
) -> tuple[Envelope, bytes]:
    """Check, sign (official then seal, one signing time) and encode. Returns the signed envelope
    and its wire bytes. ContractError if the bus would refuse it; SigningError if a key fails.
    ``ocsp``: DER OCSP responses to staple per signer (their CA's answer about their chain)."""
    check_envelope(envelope, limits)
    when = utc_millis(at or datetime.now(UTC))  # what the wire carries, so the copy equals the original
    signatures = sign_dual(identity.require_official(), identity.seal, envelope_signing_input(envelope), when)
    if ocsp:
        signatures = staple(signatures, ocsp)
    signed = envelope.model_copy(update={"signatures": signatures})
    raw = encode(signed)
    check_message_size(raw, limits)
    return signed, raw


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {err['msg']}" if where else str(err["msg"])
    return str(exc)
