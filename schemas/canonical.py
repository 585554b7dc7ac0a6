"""The canonical signing input: the exact bytes an official and an organisation sign.

Independent of Avro and recomputed from decoded fields (docs/ENVELOPE.md, "Signing input"):
a context line, then fields in a fixed order, each as

* string: 4-byte big-endian length + UTF-8 bytes (as carried, no Unicode normalisation)
* bytes: 4-byte big-endian length + raw bytes
* integer: 8-byte big-endian two's complement
* timestamp: integer milliseconds since 1970-01-01T00:00:00Z
* date: string ``YYYY-MM-DD``
* list: 4-byte big-endian count + each item; optional: a list of zero or one item.

Signatures are not covered; payload and attachment bytes are covered through their SHA-256.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeVar

from schemas.errors import ContractError
from schemas.fields import to_millis
from schemas.reasons import Reason

if TYPE_CHECKING:
    from schemas.envelope import Envelope
    from schemas.payload import Payload
    from schemas.receipt import Receipt

__all__ = [
    "ENVELOPE_CONTEXT",
    "RECEIPT_CONTEXT",
    "check_digests",
    "envelope_hash",
    "envelope_signing_input",
    "payload_digest_ok",
    "receipt_hash",
    "receipt_signing_input",
]

ENVELOPE_CONTEXT = b"docbus/envelope/v1\n"
RECEIPT_CONTEXT = b"docbus/receipt/v1\n"

_U32 = struct.Struct(">I").pack
_I64 = struct.Struct(">q").pack
X = TypeVar("X")


class _Writer:
    __slots__ = ("parts",)

    def __init__(self, context: bytes) -> None:
        self.parts: list[bytes] = [context]

    def raw(self, value: bytes) -> None:
        self.parts.append(_U32(len(value)))
        self.parts.append(value)

    def text(self, value: str) -> None:
        self.raw(value.encode("utf-8"))

    def int(self, value: int) -> None:
        self.parts.append(_I64(value))

    def time(self, value: datetime) -> None:
        self.parts.append(_I64(to_millis(value)))

    def day(self, value: date) -> None:
        self.text(value.isoformat())

    def items(self, values: Iterable[X], write: Callable[[X], None]) -> None:
        seq = list(values)
        self.parts.append(_U32(len(seq)))
        for item in seq:
            write(item)

    def optional(self, value: X | None, write: Callable[[X], None]) -> None:
        self.items(() if value is None else (value,), write)

    def payload(self, p: Payload) -> None:
        self.text(p.file_name)
        self.text(p.content_type)
        self.int(p.size)
        self.raw(p.sha256)

    def done(self) -> bytes:
        return b"".join(self.parts)


def envelope_signing_input(env: Envelope) -> bytes:
    w = _Writer(ENVELOPE_CONTEXT)
    w.text(env.message_id)
    w.time(env.created_at)
    w.int(env.sequence)
    w.raw(env.previous_hash)
    w.raw(env.directory_snapshot)
    s = env.sender
    for field in (s.code, s.name, s.in_charge, s.address, s.email, s.phone, s.website):
        w.text(field)
    w.items(env.recipients, w.text)
    w.items(env.groups, w.text)
    d = env.document
    for field in (d.document_id, d.code_number, d.code_notation, d.document_type, d.subject):
        w.text(field)
    w.text(d.promulgation_place)
    w.day(d.promulgation_date)
    w.text(d.signer.competence)
    w.text(d.signer.position)
    w.text(d.signer.full_name)
    w.int(d.priority)
    w.optional(d.due_date, w.day)
    w.items(d.places, w.text)
    w.text(d.steering_type)
    w.optional(d.response_for, w.text)
    w.text(d.business_type)
    w.text(d.security_level)
    w.parts.append(_U32(len(env.trace)))
    for hop in env.trace:
        w.text(hop.org_code)
        w.time(hop.at)
    w.payload(env.payload)
    w.items(env.attachments, w.payload)
    return w.done()


def receipt_signing_input(receipt: Receipt) -> bytes:
    w = _Writer(RECEIPT_CONTEXT)
    w.text(receipt.message_id)
    w.text(receipt.envelope_id)
    w.raw(receipt.envelope_hash)
    w.text(receipt.document_id)
    w.text(receipt.from_org)
    w.text(receipt.to_org)
    w.text(receipt.status)
    w.text(receipt.reason)
    w.text(receipt.by_name)
    w.text(receipt.by_position)
    w.time(receipt.at)
    return w.done()


def envelope_hash(env: Envelope) -> bytes:
    """SHA-256 of the signing input: what previous_hash chains and audit records refer to."""
    return hashlib.sha256(envelope_signing_input(env)).digest()


def receipt_hash(receipt: Receipt) -> bytes:
    return hashlib.sha256(receipt_signing_input(receipt)).digest()


def _digest_problem(p: Payload) -> str | None:
    if len(p.data) != p.size:
        return f"{p.file_name}: {len(p.data)} bytes, descriptor says {p.size}"
    if hashlib.sha256(p.data).digest() != p.sha256:
        return f"{p.file_name}: SHA-256 does not match the descriptor"
    return None


def payload_digest_ok(env: Envelope) -> bool:
    """True when the payload and every attachment match their size and SHA-256."""
    return all(_digest_problem(p) is None for p in (env.payload, *env.attachments))


def check_digests(env: Envelope) -> None:
    """Raise ContractError(DIGEST_MISMATCH) unless every payload matches its descriptor."""
    for p in (env.payload, *env.attachments):
        problem = _digest_problem(p)
        if problem is not None:
            raise ContractError(Reason.DIGEST_MISMATCH, problem)
