"""From a decision to the records it writes, as plain data (no broker, no faust).

The agents decide (consumers/bus/decide/), turn the decision into :class:`Outputs` here and hand
the list to the Kafka shell (consumers/bus/writer.py), which only writes it and awaits the
acknowledgements. Everything a decision causes — inbox copies with their headers and routing
proofs, notices, routing facts, quarantine records, audit drafts, table updates — is therefore
unit-tested without a broker (tests/bus/test_outputs.py).

Accepted envelope: the exact bytes to each recipient inbox (CloudEvents headers + the bus's
routing proof), a sealed 01 notice to the sender (stating any closed code redirected to its
successor, which the recipient's ROUTED record names too), a routing fact per recipient on docbus.status,
audit ACCEPTED and ROUTED per recipient, the routing record and the sender state. Refused record:
one quarantine record of bounded size, one audit REJECTED draft, and a sealed 02 notice only when
the decider says the sender is a known org and the notice budget allows it. (ACCEPTED and REJECTED
carry everything the former SUBMITTED draft did: message id, sender, raw hash, ingress position.)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from consumers.audit.core.events import draft
from consumers.bus.decide.policy import SenderState
from consumers.bus.decide.quarantine import SENDER_TOLD_HEADER, quarantine_record
from consumers.bus.decide.receipt_check import ReceiptAccepted, ReceiptDecision
from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.routing import REDIRECTED
from consumers.bus.decide.validator import Accepted, Decision, NumberHolder, Rejected
from schemas.audit import AuditEvent, SourcePosition
from schemas.avro_writer import encode_model
from schemas.continuity import Chain
from schemas.document import number_key
from schemas.envelope import Envelope
from schemas.headers import envelope_headers, receipt_headers
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode
from schemas.route_proof import ROUTE_PROOF_HEADER
from schemas.topics import (
    AUDIT_EVENTS_TOPIC,
    QUARANTINE_TOPIC,
    ROUTED,
    STATUS_TOPIC,
    inbox_topic,
    sender_status_topic,
    status_key,
)

__all__ = [
    "Headers",
    "OutRecord",
    "Outputs",
    "Sealer",
    "Source",
    "Stored",
    "TableWrite",
    "envelope_outputs",
    "receipt_outputs",
]

logger = logging.getLogger(__name__)

Headers = tuple[tuple[str, bytes], ...]
Table = Literal["routed", "senders", "recalls", "lifecycle", "documents"]
MAX_AUDIT_DETAIL = 4000


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to produce: topic, key, exact value bytes, headers."""

    topic: str
    key: bytes
    value: bytes
    headers: Headers = ()


class Stored(Protocol):
    """A table value kept as an object until its changelog record is written (a sender state:
    encoded once per batch, not once per envelope)."""

    def to_bytes(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class TableWrite:
    """``table[key] = value``; ``after_batch``: its changelog record is written only once every
    record of the batch is acknowledged (the sender state, ADR 0001)."""

    table: Table
    key: bytes
    value: bytes | Stored
    after_batch: bool = False

    def encoded(self) -> bytes:
        return self.value if isinstance(self.value, bytes) else self.value.to_bytes()


@dataclass(frozen=True, slots=True)
class Outputs:
    records: tuple[OutRecord, ...] = ()
    tables: tuple[TableWrite, ...] = ()


@dataclass(frozen=True, slots=True)
class Source:
    """Where the decided record was read, when, and whose processor group decided it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    at: datetime
    processor: Headers = field(default=())

    @property
    def position(self) -> SourcePosition:
        return SourcePosition(topic=self.topic, partition=self.partition, offset=self.offset)

    @property
    def fallback_id(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


class Sealer(Protocol):
    """The bus's own seal (consumers/bus/notices.py): notices and routing proofs."""

    @property
    def org(self) -> str: ...

    def accepted(
        self,
        env: Envelope,
        digest: bytes,
        *,
        to: str,
        at: datetime,
        note: str = "",
        chain: Chain | None = None,
    ) -> Receipt: ...

    def rejected(
        self, env: Envelope, reason: Reason, detail: str, *, to: str, at: datetime, chain: Chain | None = None
    ) -> Receipt: ...

    def route_proof(
        self, env: Envelope, digest: bytes, *, recipient: str, snapshot: bytes, at: datetime
    ) -> bytes: ...


def _audit(event: AuditEvent, src: Source, **fields: Any) -> OutRecord:
    key, value = draft(event, at=src.at, source=src.position, **fields)
    return OutRecord(AUDIT_EVENTS_TOPIC, key, value, src.processor)


def envelope_outputs(
    decision: Decision, raw: bytes, src: Source, sealer: Sealer, *, notify: bool = True
) -> Outputs:
    """What one ingress decision writes. ``notify``: the sender's 02 notice budget allows one
    (consumers/bus/notices.py, NoticeBudget); an accepted envelope is always answered."""
    raw_hash = hashlib.sha256(raw).digest()
    if isinstance(decision, Accepted):
        return _route(decision, raw_hash, src, sealer)
    return _refuse(decision, raw, raw_hash, src, sealer, notify)


def key_sender(key: bytes | None) -> str:
    """The ingress key is the sender's code by contract; for a refused record only a hint."""
    text = (key or b"").decode("utf-8", "replace")[:35]
    return text if text.strip() else "unknown"


def _route(d: Accepted, raw_hash: bytes, src: Source, sealer: Sealer) -> Outputs:
    env, sender = d.envelope, d.sender
    key = env.message_id.encode()
    if d.resend:  # the same bytes again: its 01 again (the same notice id), nothing else
        logger.info("envelope %s sent again: its 01 again", env.message_id)
        return Outputs((_accepted_notice(d, src, sealer)[0],))
    tables: list[TableWrite] = []
    if not d.duplicate:
        # the routing record goes with the outputs; the sender state after the batch is stored, so a
        # re-processed record is always known by position (validator.py)
        record = RoutedRecord(
            sender, d.plan.recipients, d.signing_hash, env.document.document_id, (src.partition, src.offset)
        )
        tables.append(TableWrite("routed", key, record.to_bytes()))
        doc = env.document  # this document now holds its số/ký hiệu (DUPLICATE_DOCUMENT for another)
        number = number_key(sender, doc.promulgation_date, doc.code_number, doc.code_notation)
        holder = NumberHolder(env.message_id, doc.document_id)
        tables.append(TableWrite("documents", number.encode(), holder.to_bytes()))
    tables.append(TableWrite("senders", d.chain.encode(), d.state, after_batch=True))
    records: list[OutRecord] = []
    for code in d.plan.recipients:
        proof = sealer.route_proof(env, d.signing_hash, recipient=code, snapshot=d.plan.snapshot, at=src.at)
        headers = (*envelope_headers(env, sender, code, d.plan.snapshot), (ROUTE_PROOF_HEADER, proof))
        records.append(OutRecord(inbox_topic(code), key, d.raw, headers))
    notice_record, sealed = _accepted_notice(d, src, sealer)
    records.append(notice_record)
    for code in d.plan.recipients:  # routing facts: who was addressed (ADR 0001, flow step 4)
        fact = status_key(env.message_id, code, ROUTED).encode()
        # everyone's for the operator; the sender's own topic for the sender (docs/SECURITY.md)
        records += (OutRecord(topic, fact, sealed) for topic in (STATUS_TOPIC, sender_status_topic(sender)))
    common: dict[str, Any] = {
        "message_id": env.message_id, "sender": sender, "stored_hash": raw_hash,
        "document_id": env.document.document_id,
    }  # fmt: skip
    records.append(_audit(AuditEvent.ACCEPTED, src, trust_hashes=d.trust_hashes, **common))
    records += (
        _audit(AuditEvent.ROUTED, src, recipient=code, detail=_redirect_detail(d, code), **common)
        for code in d.plan.recipients
    )
    return Outputs(tuple(records), tuple(tables))


def _redirect_detail(d: Accepted, recipient: str) -> str:
    """A ROUTED record of a redirected copy names the closed code addressed and its successor."""
    named = d.plan.addressed_as(recipient)
    if not named:
        return ""
    return f"{REDIRECTED}: addressed {', '.join(named)} (closed), routed to its successor {recipient}"


def _accepted_notice(d: Accepted, src: Source, sealer: Sealer) -> tuple[OutRecord, bytes]:
    chain = _chain(d.envelope, d.state)
    notice = sealer.accepted(
        d.envelope, d.signing_hash, to=d.sender, at=src.at, note=d.plan.redirect_note, chain=chain
    )
    sealed = encode_model(notice)
    headers = tuple(receipt_headers(notice, sealer.org, d.sender, notice=True))
    return OutRecord(inbox_topic(d.sender), notice.message_id.encode(), sealed, headers), sealed


def _refuse(d: Rejected, raw: bytes, raw_hash: bytes, src: Source, sealer: Sealer, notify: bool) -> Outputs:
    claimed = d.sender or key_sender(src.key)
    message_id = d.message_id or src.fallback_id
    # an authenticated sender's refusal is worth a line; a flood of junk or forgeries would cost a
    # line each (the quarantine record and the audit draft keep every one of them)
    logger.log(
        logging.INFO if d.notify else logging.DEBUG,
        "rejected %s from %s: %s %s", message_id, claimed, d.reason.value, d.detail[:200],
    )  # fmt: skip
    record = quarantine_record(
        raw, d.reason, d.detail, topic=src.topic, partition=src.partition, offset=src.offset,
        at=src.at, message_id=d.message_id,
    )  # fmt: skip
    answered = d.notice_of or d.envelope
    told = notify and d.notify and answered is not None and d.sender is not None
    headers = (*src.processor, (SENDER_TOLD_HEADER, b"1" if told else b"0"))
    records = [
        OutRecord(QUARANTINE_TOPIC, claimed.encode(), record, headers),
        _audit(
            AuditEvent.REJECTED, src, message_id=message_id, sender=claimed, reason=d.reason.value,
            detail=d.detail[:MAX_AUDIT_DETAIL], stored_hash=raw_hash,
            document_id=d.envelope.document.document_id if d.envelope is not None else None,
            trust_hashes=d.trust_hashes,
        ),
    ]  # fmt: skip
    tables: tuple[TableWrite, ...] = ()
    if d.state is not None and d.chain is not None:  # the refused envelope's place in the chain
        tables = (TableWrite("senders", d.chain.encode(), d.state, after_batch=True),)
    if told and answered is not None and d.sender is not None:
        chain = None if d.position is None else _chain(answered, d.position)
        notice = sealer.rejected(answered, d.reason, d.detail, to=d.sender, at=src.at, chain=chain)
        headers = tuple(receipt_headers(notice, sealer.org, d.sender, notice=True))
        sealed = encode_model(notice)
        records.append(OutRecord(inbox_topic(d.sender), notice.message_id.encode(), sealed, headers))
    return Outputs(tuple(records), tables)


def _chain(env: Envelope, state: SenderState) -> Chain:
    """The position a notice states: the sealed source a node resyncs from (schemas/continuity.py)."""
    return Chain(channel=env.channel, sequence=state.sequence, signing_hash=state.last_hash)


def receipt_outputs(decision: ReceiptDecision, raw: bytes, src: Source) -> Outputs:
    """What one receipt decision writes: forwarded copies, status records, audit drafts; or a
    quarantine record and an audit REJECTED draft."""
    if not isinstance(decision, ReceiptAccepted):
        who = decision.from_org or "unknown"
        message_id = decision.message_id or src.fallback_id
        logger.info(
            "refused receipt %s from %s: %s %s", message_id, who, decision.reason.value, decision.detail
        )
        record = quarantine_record(
            raw, decision.reason, decision.detail, topic=src.topic, partition=src.partition,
            offset=src.offset, at=src.at, message_id=decision.message_id,
        )  # fmt: skip
        return Outputs((
            OutRecord(QUARANTINE_TOPIC, who.encode(), record, src.processor),
            _audit(
                AuditEvent.REJECTED, src, message_id=message_id, sender=who, reason=decision.reason.value,
                detail=decision.detail[:MAX_AUDIT_DETAIL], receipt_hash=hashlib.sha256(raw).digest(),
            ),
        ))  # fmt: skip
    d, receipt = decision, decision.receipt
    tables: list[TableWrite] = []
    if receipt.status is StatusCode.RECALL_REQUESTED:
        tables.append(TableWrite("recalls", receipt.envelope_id.encode(), receipt.message_id.encode()))
    for code, state in d.lifecycle:  # where each recipient stands now (schemas/lifecycle.py)
        tables.append(TableWrite("lifecycle", f"{receipt.envelope_id}/{code}".encode(), state.to_bytes()))
    key = receipt.message_id.encode()
    records = [
        OutRecord(inbox_topic(code), key, d.raw, tuple(receipt_headers(receipt, d.from_org, code)))
        for code in d.forward_to
    ]
    topics = (STATUS_TOPIC, sender_status_topic(d.routed.sender))  # everyone's; the sender's own
    records += (OutRecord(topic, key.encode(), d.raw) for key in d.status_keys for topic in topics)
    common: dict[str, Any] = {
        "message_id": receipt.envelope_id, "sender": d.routed.sender, "document_id": receipt.document_id,
        "receipt_hash": d.receipt_hash,
    }  # fmt: skip
    records.append(
        _audit(
            AuditEvent.RECEIPT, src, status=receipt.status.value, recipient=d.from_org,
            detail=receipt.reason[:MAX_AUDIT_DETAIL], trust_hashes=d.trust_hashes, **common,
        )
    )  # fmt: skip
    if receipt.status is StatusCode.ARRIVED:
        records.append(_audit(AuditEvent.DELIVERED, src, recipient=d.from_org, **common))
    return Outputs(tuple(records), tuple(tables))


def count(outputs: Iterable[Outputs]) -> int:
    return sum(len(o.records) for o in outputs)
