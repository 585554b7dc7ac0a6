"""Topic names of the exchange (ADR 0001): one place, both sides read them from here."""

from __future__ import annotations

from schemas.errors import ContractError
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason

__all__ = [
    "AUDIT_EVENTS_TOPIC",
    "AUDIT_TOPIC",
    "BLOBS_TOPIC",
    "CHECKPOINT_TOPIC",
    "DIRECTORY_TOPIC",
    "INBOX_PREFIX",
    "INGRESS_TOPIC",
    "QUARANTINE_TOPIC",
    "RECEIPTS_TOPIC",
    "ROUTED",
    "STATUS_PREFIX",
    "STATUS_TOPIC",
    "inbox_topic",
    "parse_status_key",
    "sender_status_topic",
    "status_key",
]

INGRESS_TOPIC = "docbus.ingress"  # envelopes from nodes, keyed by sender code
RECEIPTS_TOPIC = "docbus.receipts"  # sealed receipts from recipients
QUARANTINE_TOPIC = "docbus.quarantine"  # refused records with their reason
STATUS_TOPIC = "docbus.status"  # accepted receipts, compacted per (message, recipient, status)
DIRECTORY_TOPIC = "docbus.directory"  # signed directory entries (compacted)
AUDIT_EVENTS_TOPIC = "docbus.audit.events"  # the processors' audit drafts
AUDIT_TOPIC = "docbus.audit"  # the single writer's hash chain
CHECKPOINT_TOPIC = "docbus.checkpoints"  # signed Merkle checkpoints
INBOX_PREFIX = "docbus.inbox."
STATUS_PREFIX = "docbus.status."  # docbus.status.<sender>: the status records of one sender's documents
BLOBS_TOPIC = "docbus.blobs"  # chunks of large payloads, keyed by the content's SHA-256 (hex)


def inbox_topic(code: str) -> str:
    """``docbus.inbox.<dotted code>``: Kafka topic names allow ``[a-zA-Z0-9._-]``, so dots stay."""
    try:
        return INBOX_PREFIX + canonical_org_code(code)
    except ValueError as exc:
        raise ContractError(Reason.UNKNOWN_RECIPIENT, f"no inbox for {code!r}: {exc}") from exc


def sender_status_topic(code: str) -> str:
    """``docbus.status.<dotted code>``: the status records of the documents ``code`` sent, readable by
    that org alone (``docbus.status`` holds everyone's, for the processors and the operator)."""
    try:
        return STATUS_PREFIX + canonical_org_code(code)
    except ValueError as exc:
        raise ContractError(Reason.UNKNOWN_SENDER, f"no status topic for {code!r}: {exc}") from exc


ROUTED = "routed"  # the status key's last part for the bus's routing fact (its sealed 01 notice)


def status_key(message_id: str, recipient: str, what: str) -> str:
    """``<message id>/<recipient>/<status code>`` for a receipt (one record per recipient and code,
    so compaction keeps each recipient's history) or ``<message id>/<recipient>/routed``."""
    return f"{message_id}/{recipient}/{what}"


def parse_status_key(key: str) -> tuple[str, str, str] | None:
    """(message id, recipient, status code or ``routed``) of a status key; the last part is ``""``
    for ``<message id>/<recipient>``, the latest receipt as an older bus wrote it. None: no such key."""
    parts = key.split("/")
    if len(parts) == 2:
        parts.append("")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 and all(parts[:2]) else None
