"""Hard limits of the contract, checked before any cryptography (docs/ENVELOPE.md, "Limits")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.errors import ContractError
from schemas.reasons import Reason

if TYPE_CHECKING:
    from collections.abc import Sequence

    from schemas.envelope import Envelope
    from schemas.payload import Payload
    from schemas.signature import Signature

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "check_envelope_limits",
    "check_message_size",
    "check_payload_limits",
    "check_signature_limits",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Ceilings a processor enforces on untrusted input. Field lengths fixed by edXML (subject 500,
    số 11, ký hiệu 30, org code 35) are part of the models; these are the bus's own choices."""

    max_message_bytes: int = 1024 * 1024  # whole encoded envelope; Kafka's default max is 1 MiB too
    max_recipients: int = 1000  # main recipients listed by org code
    max_groups: int = 16  # group addresses (all-*, children:*, list:*)
    max_places: int = 200  # nơi nhận lines
    max_trace_hops: int = 32
    max_attachments: int = 20
    max_signatures: int = 4  # official + organisation, room for a countersignature
    max_chain_length: int = 4  # certificates per signature chain (leaf, intermediates, anchor)
    max_certificate_bytes: int = 16 * 1024
    max_signature_bytes: int = 1024  # RSA-4096 is 512 bytes; anything larger is not a signature
    max_ocsp_responses: int = 4  # stapled per signature: one per certificate of the chain but the anchor
    max_ocsp_bytes: int = 16 * 1024  # one DER OCSPResponse (a responder certificate included)
    # large payloads as chunks on docbus.blobs (docs/ENVELOPE.md §7)
    max_payload_bytes: int = 256 * 1024 * 1024  # one payload or attachment, inline or chunked
    max_total_bytes: int = 512 * 1024 * 1024  # payload and every attachment of one envelope
    min_chunk_bytes: int = 4 * 1024
    max_chunk_bytes: int = 1024 * 1024  # a chunk record stays under the topics' 2 MiB max.message.bytes


DEFAULT_LIMITS = Limits()


def check_message_size(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    if len(raw) > limits.max_message_bytes:
        raise ContractError(Reason.TOO_LARGE, f"message is {len(raw)} bytes > {limits.max_message_bytes}")


def _too_large(count: int, limit: int, what: str, *parts: object) -> ContractError:
    # ``what`` is formatted with ``parts`` only for a refusal; the bounds are compared inline (a
    # call per bound was 16 calls per envelope, 1.5-3 µs of a decision)
    return ContractError(Reason.TOO_LARGE, f"{count} {what.format(*parts)} > {limit}")


def check_envelope_limits(env: Envelope, limits: Limits = DEFAULT_LIMITS) -> None:
    """Count and size limits of a decoded envelope (TOO_LARGE, CHAIN_TOO_LONG)."""
    if len(env.recipients) > limits.max_recipients:
        raise _too_large(len(env.recipients), limits.max_recipients, "recipients")
    if len(env.groups) > limits.max_groups:
        raise _too_large(len(env.groups), limits.max_groups, "groups")
    if len(env.document.places) > limits.max_places:
        raise _too_large(len(env.document.places), limits.max_places, "places")
    if len(env.trace) > limits.max_trace_hops:
        raise _too_large(len(env.trace), limits.max_trace_hops, "trace hops")
    if len(env.attachments) > limits.max_attachments:
        raise _too_large(len(env.attachments), limits.max_attachments, "attachments")
    check_signature_limits(env.signatures, limits)
    check_payload_limits([env.payload, *env.attachments], limits)


def check_payload_limits(payloads: Sequence[Payload], limits: Limits = DEFAULT_LIMITS) -> None:
    """Per-payload and per-envelope size limits and the chunk size range (TOO_LARGE)."""
    total = 0
    for p in payloads:
        if p.size > limits.max_payload_bytes:
            raise _too_large(p.size, limits.max_payload_bytes, "bytes in {}", p.file_name)
        if p.blob is not None and not limits.min_chunk_bytes <= p.blob.chunk_size <= limits.max_chunk_bytes:
            bounds = f"{limits.min_chunk_bytes}..{limits.max_chunk_bytes}"
            detail = f"{p.file_name}: chunk size {p.blob.chunk_size} not in {bounds}"
            raise ContractError(Reason.TOO_LARGE, detail)
        total += p.size
    if total > limits.max_total_bytes:
        raise _too_large(total, limits.max_total_bytes, "payload bytes in the envelope")


def check_signature_limits(signatures: Sequence[Signature], limits: Limits = DEFAULT_LIMITS) -> None:
    """Signature block limits, shared by envelopes and receipts (TOO_LARGE, CHAIN_TOO_LONG)."""
    if len(signatures) > limits.max_signatures:
        raise _too_large(len(signatures), limits.max_signatures, "signatures")
    for sig in signatures:
        if len(sig.chain) > limits.max_chain_length:
            detail = f"{sig.role.value} chain has {len(sig.chain)} > {limits.max_chain_length} certificates"
            raise ContractError(Reason.CHAIN_TOO_LONG, detail)
        if len(sig.value) > limits.max_signature_bytes:
            raise _too_large(len(sig.value), limits.max_signature_bytes, "{.value} signature bytes", sig.role)
        for size in map(len, sig.chain):
            if size > limits.max_certificate_bytes:
                raise _too_large(size, limits.max_certificate_bytes, "certificate bytes")
        if len(sig.ocsp) > limits.max_ocsp_responses:
            what = "{.value} stapled OCSP responses"
            raise _too_large(len(sig.ocsp), limits.max_ocsp_responses, what, sig.role)
        for size in map(len, sig.ocsp):
            if size > limits.max_ocsp_bytes:
                raise _too_large(size, limits.max_ocsp_bytes, "OCSP response bytes")
