"""The canonical signing input: the exact bytes an official and an organisation sign.

Independent of Avro and recomputed from decoded fields (docs/ENVELOPE.md, "Signing input"):
a context line, then fields in a fixed order, each as

* string: 4-byte big-endian length + UTF-8 bytes (as carried, no Unicode normalisation)
* bytes: 4-byte big-endian length + raw bytes
* integer: 8-byte big-endian two's complement
* timestamp: integer milliseconds since 1970-01-01T00:00:00Z
* date: string ``YYYY-MM-DD``
* list: 4-byte big-endian count + each item; optional: a list of zero or one item.

Signatures are not covered; payload and attachment bytes are covered through their SHA-256
(and, for a payload travelling as chunks, through each chunk's SHA-256 and place: v3 input).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeVar

from schemas.errors import ContractError
from schemas.fields import to_millis
from schemas.reasons import Reason

if TYPE_CHECKING:
    from schemas.blob import BlobRef, DocumentKeys
    from schemas.edxml import EdxmlBusiness, EdxmlDetails, EdxmlOrgan
    from schemas.envelope import Envelope
    from schemas.header import TraceHop
    from schemas.payload import Payload
    from schemas.receipt import Receipt

__all__ = [
    "ENVELOPE_CONTEXT",
    "ENVELOPE_V2_CONTEXT",
    "ENVELOPE_V3_CONTEXT",
    "ENVELOPE_V4_CONTEXT",
    "RECEIPT_CONTEXT",
    "check_digests",
    "envelope_signing_input",
    "envelope_strings",
    "payload_digest_ok",
    "receipt_signing_hash",
    "receipt_signing_input",
    "signing_hash",
]

ENVELOPE_CONTEXT = b"docbus/envelope/v1\n"
ENVELOPE_V2_CONTEXT = b"docbus/envelope/v2\n"  # an envelope carrying edxml details
ENVELOPE_V3_CONTEXT = b"docbus/envelope/v3\n"  # an envelope with a payload travelling as chunks
ENVELOPE_V4_CONTEXT = b"docbus/envelope/v4\n"  # an envelope with encrypted chunks and its key wraps
RECEIPT_CONTEXT = b"docbus/receipt/v1\n"
RECEIPT_V2_CONTEXT = b"docbus/receipt/v2\n"  # a bus notice stating the sender's chain position
CHANNEL_CONTEXT = b"docbus/envelope/channel/v1\n"  # prefixes the input of an envelope in a named channel

_U32 = struct.Struct(">I").pack
_I64 = struct.Struct(">q").pack
X = TypeVar("X")

# Flat helpers rather than a writer object: this runs for every message (PERFORMANCE.md budget).


def _str(value: str) -> bytes:
    raw = value.encode("utf-8")
    return _U32(len(raw)) + raw


def _bin(value: bytes) -> bytes:
    return _U32(len(value)) + value


def _time(value: datetime) -> bytes:
    return _I64(to_millis(value))


def _date(value: date) -> bytes:
    return _str(value.isoformat())


def _list(values: Sequence[X], encode: Callable[[X], bytes]) -> bytes:
    return _U32(len(values)) + b"".join([encode(v) for v in values])


def _opt(value: X | None, encode: Callable[[X], bytes]) -> bytes:
    return _U32(0) if value is None else _U32(1) + encode(value)


def _descriptor(p: Payload) -> bytes:
    return _str(p.file_name) + _str(p.content_type) + _I64(p.size) + _bin(p.sha256)


def _blob(b: BlobRef) -> bytes:
    return _I64(b.chunk_size) + _I64(b.partition) + _list(b.chunks, lambda c: _bin(c.sha256) + _I64(c.offset))


def _descriptor_v3(p: Payload) -> bytes:
    return _descriptor(p) + _opt(p.blob, _blob)


def _blob_v4(b: BlobRef) -> bytes:
    return _blob(b) + _opt(b.sealed, lambda s: _bin(s.id) + _bin(s.key))


def _descriptor_v4(p: Payload) -> bytes:
    return _descriptor(p) + _opt(p.blob, _blob_v4)


def _keys(k: DocumentKeys) -> bytes:
    return _bin(k.ephemeral) + _list(k.wraps, lambda w: _str(w.recipient) + _bin(w.certificate) + _bin(w.key))


def _hop(hop: TraceHop) -> bytes:
    return _str(hop.org_code) + _time(hop.at)


def _bool(value: bool) -> bytes:
    return _I64(int(value))


def _organ(o: EdxmlOrgan) -> bytes:
    fields = (o.code, o.name, o.in_charge, o.address, o.email, o.phone, o.fax, o.website)
    return b"".join([_str(f) for f in fields])


def _business(b: EdxmlBusiness) -> bytes:
    staff = _opt(b.staff, lambda s: _str(s.department) + _str(s.staff) + _str(s.email) + _str(s.mobile))
    return _opt(b.document_id, _str) + _str(b.reason) + _opt(b.paper, _I64) + staff


def _edxml(x: EdxmlDetails) -> bytes:
    """Rows 35-52 of docs/ENVELOPE.md §4 (v2 only)."""
    return b"".join(
        [
            _str(x.sender_fax),
            _list(x.to, _organ),
            _str(x.content),
            _str(x.type_code),
            _str(x.type_detail),
            _str(x.type_name),
            _str(x.competence_text),
            _str(x.sphere),
            _str(x.typer_notation),
            _opt(x.promulgation_amount, _I64),
            _opt(x.page_amount, _I64),
            _opt(x.direction, _bool),
            _list(x.appendixes, _str),
            _opt(x.business, _business),
            _list(x.attachments, lambda a: _str(a.content_id) + _str(a.description)),
        ]
    )


def envelope_signing_input(env: Envelope) -> bytes:
    """The envelope's signing input; field order is docs/ENVELOPE.md §4, table rows 1-34, and for an
    envelope with edxml details the v2 context and rows 35-52 after them. Without details the input
    is the v1 one, byte for byte, whichever schema version carried the envelope. An envelope with a
    chunked payload signs the v3 input: rows 1-32, the descriptors with their blob reference, then
    the edxml rows as one optional item (§4, "v3"); one with encrypted chunks the v4 input: as v3 with
    each blob's sealed key, then the document key wraps (§4, "v4")."""
    chunked = env.payload.blob is not None or any(a.blob is not None for a in env.attachments)
    if env.sealed or env.keys is not None:
        tail = [_descriptor_v4(env.payload), _list(env.attachments, _descriptor_v4), _opt(env.edxml, _edxml),
                _opt(env.keys, _keys)]  # fmt: skip
        context = ENVELOPE_V4_CONTEXT
    elif chunked:
        tail = [_descriptor_v3(env.payload), _list(env.attachments, _descriptor_v3), _opt(env.edxml, _edxml)]
        context = ENVELOPE_V3_CONTEXT
    else:
        tail = [_descriptor(env.payload), _list(env.attachments, _descriptor)]
        tail.append(_edxml(env.edxml) if env.edxml is not None else b"")
        context = ENVELOPE_CONTEXT if env.edxml is None else ENVELOPE_V2_CONTEXT
    signed = context + _rows(env) + b"".join(tail)
    # a named channel is signed ahead of the rest; the default channel leaves the input as it was
    return CHANNEL_CONTEXT + _str(env.channel) + signed if env.channel else signed


def _rows(env: Envelope) -> bytes:
    """Rows 1-32: everything before the payload descriptors."""
    s, d = env.sender, env.document
    return b"".join(
        [
            _str(env.message_id),
            _time(env.created_at),
            _I64(env.sequence),
            _bin(env.previous_hash),
            _bin(env.directory_snapshot),
            _str(s.code),
            _str(s.name),
            _str(s.in_charge),
            _str(s.address),
            _str(s.email),
            _str(s.phone),
            _str(s.website),
            _list(env.recipients, _str),
            _list(env.groups, _str),
            _str(d.document_id),
            _str(d.code_number),
            _str(d.code_notation),
            _str(d.document_type),
            _str(d.subject),
            _str(d.promulgation_place),
            _date(d.promulgation_date),
            _str(d.signer.competence),
            _str(d.signer.position),
            _str(d.signer.full_name),
            _I64(d.priority),
            _opt(d.due_date, _date),
            _list(d.places, _str),
            _str(d.steering_type),
            _opt(d.response_for, _str),
            _str(d.business_type),
            _str(d.security_level),
            _list(env.trace, _hop),
        ]
    )


def envelope_strings(env: Envelope) -> list[str]:
    """Every string ``env`` holds, read as the signing input reads its fields: rows 1-32, the
    channel, the descriptors, the edxml rows and the key wraps, then the signature block's role and
    algorithm (not signed). For the text rule (schemas.text.check_text), which then need not walk
    the model; tests/schemas/test_text_strings.py fails if a string field of the envelope is left out."""
    s, d = env.sender, env.document
    signer = d.signer
    out = [
        env.message_id, s.code, s.name, s.in_charge, s.address, s.email, s.phone, s.website,
        *env.recipients, *env.groups, d.document_id, d.code_number, d.code_notation, d.document_type,
        d.subject, d.promulgation_place, signer.competence, signer.position, signer.full_name,
        *d.places, d.steering_type, d.business_type, d.security_level, env.channel,
    ]  # fmt: skip
    if d.response_for is not None:
        out.append(d.response_for)
    out += [hop.org_code for hop in env.trace]
    out += (env.payload.file_name, env.payload.content_type)
    for p in env.attachments:
        out += (p.file_name, p.content_type)
    if env.edxml is not None:
        _edxml_strings(env.edxml, out)
    if env.keys is not None:
        out += [w.recipient for w in env.keys.wraps]
    for sig in env.signatures:
        out += (sig.role, sig.algorithm)
    return out


def _edxml_strings(x: EdxmlDetails, out: list[str]) -> None:
    out += (x.sender_fax, x.content, x.type_code, x.type_detail, x.type_name, x.competence_text, x.sphere,
            x.typer_notation, *x.appendixes)  # fmt: skip
    for o in x.to:
        out += (o.code, o.name, o.in_charge, o.address, o.email, o.phone, o.website, o.fax)
    b = x.business
    if b is not None:
        out.append(b.reason)
        if b.document_id is not None:
            out.append(b.document_id)
        if b.staff is not None:
            out += (b.staff.department, b.staff.staff, b.staff.email, b.staff.mobile)
    for a in x.attachments:
        out += (a.content_id, a.description)


def receipt_signing_input(receipt: Receipt) -> bytes:
    """The receipt's signing input (docs/ENVELOPE.md §4, "Receipt")."""
    r = receipt
    c = r.chain
    chain = b"" if c is None else _str(c.channel) + _I64(c.sequence) + _bin(c.signing_hash)
    return b"".join(
        [
            RECEIPT_CONTEXT if r.chain is None else RECEIPT_V2_CONTEXT,
            _str(r.message_id),
            _str(r.envelope_id),
            _bin(r.signing_hash),
            _str(r.document_id),
            _str(r.from_org),
            _str(r.to_org),
            _str(r.status),
            _str(r.reason),
            _str(r.by_name),
            _str(r.by_position),
            _time(r.at),
            chain,
        ]
    )


def signing_hash(env: Envelope) -> bytes:
    """SHA-256 of the signing input: what previous_hash chains and audit records refer to."""
    return hashlib.sha256(envelope_signing_input(env)).digest()


def receipt_signing_hash(receipt: Receipt) -> bytes:
    return hashlib.sha256(receipt_signing_input(receipt)).digest()


def _digest_problem(p: Payload) -> str | None:
    if p.blob is not None:
        return None  # the chunks are checked as they stream (schemas.blob.BlobAssembly)
    if len(p.data) != p.size:
        return f"{p.file_name}: {len(p.data)} bytes, descriptor says {p.size}"
    if hashlib.sha256(p.data).digest() != p.sha256:
        return f"{p.file_name}: SHA-256 does not match the descriptor"
    return None


def payload_digest_ok(env: Envelope) -> bool:
    """True when the payload and every inline attachment match their size and SHA-256."""
    return all(_digest_problem(p) is None for p in (env.payload, *env.attachments))


def check_digests(env: Envelope) -> None:
    """Raise ContractError(DIGEST_MISMATCH) unless every payload matches its descriptor."""
    for p in (env.payload, *env.attachments):
        problem = _digest_problem(p)
        if problem is not None:
            raise ContractError(Reason.DIGEST_MISMATCH, problem)
