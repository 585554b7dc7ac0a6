"""The document envelope and the one entry processors call: :func:`parse_envelope`."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from schemas.blob import DocumentKeys
from schemas.blob_crypto import WRAPPED_BYTES
from schemas.canonical import check_digests, envelope_strings
from schemas.codec import AvroModel, decode
from schemas.continuity import DEFAULT_CHANNEL, Channel
from schemas.document import SecurityLevel
from schemas.edxml import EdxmlDetails
from schemas.errors import ContractError
from schemas.fields import MessageId, OrgCode, Sha256, UtcMillis
from schemas.header import DocumentHeader, Organization, TraceHop
from schemas.limits import DEFAULT_LIMITS, Limits, check_envelope_limits, check_message_size
from schemas.orgcode import canonical_org_code, validate_org_code
from schemas.payload import Payload
from schemas.reasons import Reason
from schemas.signature import Signature
from schemas.text import check_text

__all__ = [
    "ZERO_HASH",
    "Envelope",
    "GroupAddress",
    "check_envelope",
    "check_not_secret",
    "check_sealed",
    "parse_envelope",
]

ZERO_HASH = bytes(32)  # previous_hash of a sender's first envelope
_GROUP = re.compile(r"all-[a-z0-9]+(?:-[a-z0-9]+)*|list:[a-z0-9][a-z0-9._-]{0,63}")


def _group_address(value: str) -> str:
    """``all-<kind>`` (all-departments, all-universities...), ``children:<org code>``, ``list:<name>``."""
    if value.startswith("children:"):
        validate_org_code(value.removeprefix("children:"))
    elif _GROUP.fullmatch(value) is None:
        raise ValueError("group address must be all-<kind>, children:<org code> or list:<name>")
    return value


GroupAddress = Annotated[str, AfterValidator(_group_address)]


class Envelope(AvroModel):
    """A document envelope; with an empty ``signatures`` list it is the unsigned form a signer
    signs (signatures are outside the signing input, see schemas/canonical.py)."""

    avro_schema = "envelope.v6"
    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: MessageId
    sender: Organization
    recipients: list[OrgCode] = Field(default_factory=list)
    groups: list[GroupAddress] = Field(default_factory=list)
    document: DocumentHeader
    trace: list[TraceHop] = Field(default_factory=list)
    created_at: UtcMillis
    channel: Channel = DEFAULT_CHANNEL  # v5: the sending product's chain (schemas/continuity.py)
    sequence: int = Field(ge=1, lt=2**63)
    previous_hash: Sha256
    directory_snapshot: Sha256
    payload: Payload
    attachments: list[Payload] = Field(default_factory=list)
    signatures: list[Signature] = Field(default_factory=list)
    edxml: EdxmlDetails | None = None  # v2: what an edXML package carries beyond this model
    keys: DocumentKeys | None = None  # v6: the document key wrapped to each recipient (sealed blobs)

    @property
    def sealed(self) -> bool:
        """Whether a payload travels as encrypted chunks (docs/ENVELOPE.md §7.4)."""
        return any(
            p.blob is not None and p.blob.sealed is not None for p in (self.payload, *self.attachments)
        )

    @model_validator(mode="after")
    def _addressing(self) -> Envelope:
        if not self.recipients and not self.groups:
            raise ValueError("an envelope needs at least one recipient or group")
        codes = [canonical_org_code(c) for c in self.recipients]
        if len(set(codes)) != len(codes) or len(set(self.groups)) != len(self.groups):
            raise ValueError("duplicate recipient or group")  # would deliver twice
        issuer = canonical_org_code(self.document.document_id.split(",", 1)[0])
        if issuer != canonical_org_code(self.sender.code):
            raise ValueError("document_id names another organisation than the sender")
        if self.edxml is not None:
            _check_edxml(self, self.edxml)
        return self


def _check_edxml(env: Envelope, details: EdxmlDetails) -> None:
    # the details describe this envelope: its recipients and its payloads, nothing else
    recipients = {canonical_org_code(c) for c in env.recipients}
    stray = [o.code for o in details.to if canonical_org_code(o.code) not in recipients]
    if stray:
        raise ValueError(f"edxml.to names {stray[0]}, which is not a recipient")
    if details.attachments and len(details.attachments) != 1 + len(env.attachments):
        raise ValueError("edxml.attachments must describe the payload and every attachment, in order")


def check_not_secret(env: Envelope) -> None:
    """Secret (mật) documents are excluded from electronic exchange (SECRET_REFUSED)."""
    level = env.document.security_level
    if level is not SecurityLevel.NORMAL:
        raise ContractError(Reason.SECRET_REFUSED, f"security level {level.value} is not exchanged")


def check_sealed(env: Envelope) -> None:
    """Sealed blobs and the document keys come together: every sealed blob's content key is
    wrapped (40 bytes), and keys are carried only for sealed blobs (INVALID_FIELD)."""
    if env.keys is None and env.payload.blob is None and not env.attachments:
        return  # the usual envelope: one inline payload and no keys, nothing sealed
    blobs = [p.blob for p in (env.payload, *env.attachments) if p.blob is not None]
    sealed = [b.sealed for b in blobs if b.sealed is not None]
    if sealed and env.keys is None:
        raise ContractError(Reason.INVALID_FIELD, "encrypted chunks without the document keys")
    if env.keys is not None and not sealed:
        raise ContractError(Reason.INVALID_FIELD, "document keys without an encrypted payload")
    if any(len(s.key) != WRAPPED_BYTES for s in sealed):
        raise ContractError(Reason.INVALID_FIELD, "an encrypted payload's content key is not wrapped")


def check_envelope(env: Envelope, limits: Limits = DEFAULT_LIMITS) -> None:
    """Secret, limit, text and digest checks of a built or decoded envelope (a node runs this before
    signing, so it never signs what the bus would refuse)."""
    check_not_secret(env)
    check_envelope_limits(env, limits)
    # NFC, no hidden or reordering characters (TEXT_NOT_NFC, FORBIDDEN_CHARACTER)
    check_text(env, envelope_strings(env))
    check_digests(env)
    check_sealed(env)


def parse_envelope(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Size check -> decode -> secret/limit checks -> digest checks; raises only ContractError.

    Everything here runs before any cryptography, so an oversized or malformed message costs
    little. Signatures are verified afterwards by the trust core over
    ``schemas.canonical.envelope_signing_input(env)``."""
    check_message_size(raw, limits)
    env = decode(raw, Envelope)
    check_envelope(env, limits)
    return env
