"""Directory entries and the canonical bytes that sign them and name a snapshot (docs/DIRECTORY.md).

An entry describes one organisation: code, names, kind, parent, named lists, status (a closed code
names its successor) and the SHA-256 fingerprints of its certificates. Entries are signed one by
one by the ministry's directory authority (an organisation seal over
:func:`directory_entry_signing_input`); a snapshot is a set of entries, one per code, named by
:func:`snapshot_hash` and published as a sealed :class:`DirectorySnapshotRecord`. Encoding rules
are those of schemas/canonical.py: strings and lists length-prefixed with 4 big-endian bytes,
integers and millisecond times as 8.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from schemas.codec import AvroModel
from schemas.errors import ContractError
from schemas.fields import OrgCode, Sha256, UtcMillis, to_millis
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason
from schemas.signature import Signature

__all__ = [
    "DIRECTORY_ENTRY_CONTEXT",
    "DIRECTORY_SNAPSHOT_CONTEXT",
    "DIRECTORY_SNAPSHOT_RECORD_CONTEXT",
    "ENTRY_CLOCK_SKEW",
    "ENTRY_MAX_AGE",
    "DirectoryEntry",
    "DirectorySnapshotRecord",
    "DottedOrgCode",
    "EntryRef",
    "ListName",
    "OrgKind",
    "OrgStatus",
    "check_entry_times",
    "directory_entry_signing_input",
    "directory_snapshot_signing_input",
    "entry_hash",
    "snapshot_hash",
    "snapshot_input",
]

DIRECTORY_ENTRY_CONTEXT = b"docbus/directory-entry/v1\n"
DIRECTORY_ENTRY_V2_CONTEXT = b"docbus/directory-entry/v2\n"  # an entry listing an encryption certificate
DIRECTORY_SNAPSHOT_CONTEXT = b"docbus/directory-snapshot/v1\n"
DIRECTORY_SNAPSHOT_RECORD_CONTEXT = b"docbus/directory-snapshot-record/v1\n"

_LIST_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # the name part of a ``list:<name>`` address
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_U32 = struct.Struct(">I").pack
_I64 = struct.Struct(">q").pack


class OrgKind(StrEnum):
    MINISTRY = "ministry"  # Bộ GD&ĐT
    MINISTRY_UNIT = "ministry_unit"  # Vụ, Cục, Văn phòng of the ministry
    DEPARTMENT = "department"  # provincial Sở GD&ĐT
    UNIVERSITY = "university"
    COLLEGE = "college"  # teacher-training and other colleges
    OTHER = "other"


class OrgStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"  # đóng mã: still resolves, names its successor


def _dotted(value: str) -> str:
    # the directory is the reference: one spelling per organisation, the QĐ 20/2020 dotted form
    if canonical_org_code(value) != value:
        raise ValueError(f"directory codes are in dotted form, not {value!r}")
    return value


def _list_name(value: str) -> str:
    if _LIST_NAME.fullmatch(value) is None:
        raise ValueError(f"list name {value!r}: 1-64 of a-z 0-9 . _ - starting with a letter or digit")
    return value


def _fingerprint(value: str) -> str:
    if _FINGERPRINT.fullmatch(value) is None:
        raise ValueError("certificate fingerprint must be 64 lowercase hex digits (SHA-256)")
    return value


def _from_base64(value: object) -> object:
    # JSON carries the DER as base64 (staged edits, --json output); Avro and Python as bytes
    return base64.b64decode(value, validate=True) if isinstance(value, str) else value


DerBytes = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    PlainSerializer(lambda b: base64.b64encode(b).decode("ascii"), return_type=str, when_used="json"),
]
DottedOrgCode = Annotated[OrgCode, AfterValidator(_dotted)]
ListName = Annotated[str, AfterValidator(_list_name)]
CertFingerprint = Annotated[str, AfterValidator(_fingerprint)]


class DirectoryEntry(AvroModel):
    """One organisation at one ``version``; the highest version of a code wins in a snapshot."""

    avro_schema = "directory_entry.v2"
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: DottedOrgCode
    name: str = Field(min_length=1, max_length=250)  # Vietnamese, as promulgated
    name_en: str | None = Field(default=None, max_length=250)
    kind: OrgKind
    parent: DottedOrgCode | None = None
    groups: list[ListName] = Field(default_factory=list, max_length=64)
    status: OrgStatus = OrgStatus.ACTIVE
    successor: DottedOrgCode | None = None
    cert_fingerprints: list[CertFingerprint] = Field(default_factory=list, max_length=256)
    # v2: DER of the org's encryption certificate (keyAgreement): large payloads' keys are wrapped to it
    encryption_certificate: DerBytes | None = Field(default=None, max_length=16 * 1024)
    version: int = Field(ge=1, lt=2**63)
    updated_at: UtcMillis
    signatures: list[Signature] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> DirectoryEntry:
        if (self.status is OrgStatus.CLOSED) != (self.successor is not None):
            raise ValueError("a closed code names a successor, an active one does not")
        if self.code in (self.successor, self.parent):
            raise ValueError("an organisation is neither its own successor nor its own parent")
        if len(set(self.groups)) != len(self.groups):
            raise ValueError("duplicate list name")
        if len(set(self.cert_fingerprints)) != len(self.cert_fingerprints):
            raise ValueError("duplicate certificate fingerprint")
        return self

    @property
    def active(self) -> bool:
        return self.status is OrgStatus.ACTIVE


def _str(value: str) -> bytes:
    raw = value.encode("utf-8")
    return _U32(len(raw)) + raw


def _opt(value: str | None) -> bytes:
    return _U32(0) if value is None else _U32(1) + _str(value)


def _strs(values: Sequence[str]) -> bytes:
    return _U32(len(values)) + b"".join(_str(v) for v in values)


def directory_entry_signing_input(entry: DirectoryEntry) -> bytes:
    """The bytes the directory authority seals: every field but ``signatures``, in this order.

    Lists are signed in their carried order (a re-ordered list is a different entry). An entry
    with an encryption certificate signs the v2 context, the same fields, then the certificate's
    DER (4-byte length first); one without signs the v1 input unchanged."""
    cert = entry.encryption_certificate
    tail = b"" if cert is None else _U32(len(cert)) + cert
    return b"".join(
        (
            DIRECTORY_ENTRY_CONTEXT if cert is None else DIRECTORY_ENTRY_V2_CONTEXT,
            _str(entry.code),
            _str(entry.name),
            _opt(entry.name_en),
            _str(entry.kind),
            _opt(entry.parent),
            _strs(entry.groups),
            _str(entry.status),
            _opt(entry.successor),
            _strs(entry.cert_fingerprints),
            _I64(entry.version),
            _I64(to_millis(entry.updated_at)),
            tail,
        )
    )


#: a sealed entry reaches the directory topic within this time of its sealing (docs/DIRECTORY.md §1)
ENTRY_MAX_AGE = timedelta(hours=24)
#: how far the authority's clock and the broker's may disagree
ENTRY_CLOCK_SKEW = timedelta(minutes=5)


def check_entry_times(
    entry: DirectoryEntry,
    published_at: datetime,
    *,
    max_age: timedelta = ENTRY_MAX_AGE,
    skew: timedelta = ENTRY_CLOCK_SKEW,
) -> None:
    """The freshness rule of a directory entry (docs/DIRECTORY.md §1, "Freshness"); STALE when broken.

    ``published_at`` is when the entry reached the directory topic: the broker's append time
    (``message.timestamp.type=LogAppendTime`` on docbus.directory), which no signer chooses. A seal
    whose ``signing_time`` (unsigned, the signer's claim) is backdated into the validity of an expired
    or replaced authority key lies more than ``max_age`` before its publication and is refused, as an
    envelope's stale ``created_at`` and a receipt's backdated seal are."""
    for sig in entry.signatures:
        at = sig.signing_time
        if at < entry.updated_at - skew:
            raise ContractError(Reason.STALE, f"sealed at {at.isoformat()}, before its updated_at "
                                              f"{entry.updated_at.isoformat()}")  # fmt: skip
        if at > published_at + skew:
            raise ContractError(Reason.STALE, f"sealed at {at.isoformat()}, after its publication at "
                                              f"{published_at.isoformat()}")  # fmt: skip
        if published_at - at > max_age:
            raise ContractError(Reason.STALE, f"published at {published_at.isoformat()}, more than "
                                              f"{max_age} after its seal at {at.isoformat()}")  # fmt: skip


def entry_hash(entry: DirectoryEntry) -> bytes:
    """SHA-256 of the entry's signing input."""
    return hashlib.sha256(directory_entry_signing_input(entry)).digest()


class EntryRef(BaseModel):
    """An entry as a snapshot names it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: DottedOrgCode
    version: int = Field(ge=1, lt=2**63)
    entry_hash: Sha256

    @classmethod
    def of(cls, entry: DirectoryEntry) -> EntryRef:
        return cls(code=entry.code, version=entry.version, entry_hash=entry_hash(entry))


def snapshot_input(refs: Iterable[EntryRef]) -> bytes:
    """Context, 4-byte count, then per entry sorted by code: code (string), version (8 bytes),
    entry hash (32 bytes, no length prefix). Codes must be unique.

    Order-independent by construction; signatures are left out, so re-sealing an entry (a new
    ECDSA signature over the same content) keeps the snapshot's identity."""
    ordered = sorted(refs, key=lambda r: r.code)
    if any(a.code == b.code for a, b in pairwise(ordered)):
        raise ValueError("a snapshot holds one entry per code")
    parts = [DIRECTORY_SNAPSHOT_CONTEXT, _U32(len(ordered))]
    parts += [_str(r.code) + _I64(r.version) + r.entry_hash for r in ordered]
    return b"".join(parts)


def snapshot_hash(entries: Iterable[DirectoryEntry]) -> bytes:
    """SHA-256 of :func:`snapshot_input`: the ``directory_snapshot`` an envelope carries."""
    return hashlib.sha256(snapshot_input(EntryRef.of(e) for e in entries)).digest()


class DirectorySnapshotRecord(AvroModel):
    """A published snapshot: which entry versions it holds, sealed by the directory authority
    (audit event DIRECTORY_PUBLISHED). ``snapshot`` must be the hash of ``entries``."""

    avro_schema = "directory_snapshot.v1"
    model_config = ConfigDict(frozen=True, extra="forbid")

    snapshot: Sha256
    entries: list[EntryRef] = Field(max_length=100_000)  # sorted by code
    published_at: UtcMillis
    signatures: list[Signature] = Field(default_factory=list)

    @model_validator(mode="after")
    def _hash_matches(self) -> DirectorySnapshotRecord:
        if [r.code for r in self.entries] != sorted(r.code for r in self.entries):
            raise ValueError("snapshot entries are sorted by code")
        if hashlib.sha256(snapshot_input(self.entries)).digest() != self.snapshot:
            raise ValueError("snapshot hash does not match its entries")
        return self


def directory_snapshot_signing_input(record: DirectorySnapshotRecord) -> bytes:
    """What the authority seals: context, snapshot hash (length-prefixed), published-at millis."""
    return (
        DIRECTORY_SNAPSHOT_RECORD_CONTEXT + _U32(32) + record.snapshot + _I64(to_millis(record.published_at))
    )
