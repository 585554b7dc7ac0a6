"""The audit log as read back from Kafka: stored bytes, decoded records, checkpoints.

The ops tools (timeline, replay, evidence, export) all start from this snapshot of
docbus.audit and docbus.checkpoints, taken up to their end offsets at the moment of reading.
``stored`` is the writer's chain only: the topic is sieved (consumers.audit.core.sieve) with the
audit keys the trust core accepts, so a record someone else appended is in ``foreign``, never in
a timeline, a replay or an evidence bundle. ``topic`` keeps the records as read, seals included.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import fastavro
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from consumers.audit.config import AuditConfig
from consumers.audit.core.chain import HEADER, body_schema
from consumers.audit.core.checkpoint import verify_checkpoint
from consumers.audit.core.errors import AuditError
from consumers.audit.core.report import Foreign
from consumers.audit.core.seal import SEAL_HEADER
from consumers.audit.core.sieve import Sieve, Stored
from consumers.audit.core.trusted import audit_keys
from consumers.audit.kafka.kafka_io import read_topic, read_values
from consumers.trust import TrustPolicy
from schemas.audit import AuditEvent, AuditRecord, Checkpoint
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.errors import ContractError

__all__ = ["LogView", "audit_certificate", "load_log", "read_log"]

logger = logging.getLogger(__name__)


@dataclass
class LogView:
    stored: list[bytes]  # the writer's records of docbus.audit, in index order
    checkpoints: list[bytes]  # docbus.checkpoints values, encoded
    foreign: list[Foreign] = field(default_factory=list)  # records of the topic not the writer's
    topic: list[Stored] = field(default_factory=list)  # docbus.audit as read, seals included
    signed: int = 0  # tree size of the newest checkpoint whose signature verified
    verified: list[bytes] | None = None  # the checkpoints whose signature verified (None: unchecked)
    _records: list[AuditRecord | None] | None = field(default=None, repr=False)

    @property
    def records(self) -> list[AuditRecord | None]:
        """Decoded records by position; None for one that does not decode (verify names it)."""
        if self._records is None:
            self._records = [_decode(s, i) for i, s in enumerate(self.stored)]
        return self._records

    def about(self, ident: str) -> Iterator[tuple[bytes, AuditRecord]]:
        """(stored, record) of every record whose message id or document id is ``ident``."""
        for stored, rec in zip(self.stored, self.records, strict=True):
            if rec is not None and ident in (rec.message_id, rec.document_id):
                yield stored, rec

    def events(self, event: AuditEvent) -> Iterator[AuditRecord]:
        return (r for r in self.records if r is not None and r.event is event)

    def matching(self, **fields: str) -> Iterator[AuditRecord]:
        """Records whose Avro fields equal ``fields`` (e.g. event="ROUTED", recipient="H01").
        Filters on the plain fastavro decoding and builds models only for the matches: about 4x
        faster than decoding every record into a model (benchmarks/bench_audit.py)."""
        if self._records is not None:
            for rec in self._records:
                if rec is not None and all(_plain(getattr(rec, k)) == v for k, v in fields.items()):
                    yield rec
            return
        for i, data in enumerate(self.stored):
            schema = body_schema(data)
            if schema is None:
                logger.warning("audit record %d is no audit record version", i)
                continue
            buf = io.BytesIO(data)
            buf.seek(len(HEADER))
            try:
                raw = fastavro.schemaless_reader(buf, schema, None)
            except Exception:  # any fastavro failure: undecodable, as _decode would say
                logger.warning("audit record %d does not decode", i)
                continue
            if isinstance(raw, dict) and all(raw.get(k) == v for k, v in fields.items()):
                rec = _decode(data, i)
                if rec is not None:
                    yield rec

    def newest_checkpoint(self) -> tuple[bytes, Checkpoint] | None:
        """The largest checkpoint that the log read back can prove against (its signature is
        checked by whoever proves against it)."""
        best: tuple[bytes, Checkpoint] | None = None
        for data in self.checkpoints if self.verified is None else self.verified:
            try:
                cp = decode(data, Checkpoint)
            except ContractError:
                continue
            if cp.tree_size <= len(self.stored) and (best is None or cp.tree_size > best[1].tree_size):
                best = (data, cp)
        return best


def _plain(value: object) -> object:
    return value.value if isinstance(value, StrEnum) else value


def _decode(stored: bytes, index: int) -> AuditRecord | None:
    try:
        return decode(stored, AuditRecord)
    except ContractError as exc:
        logger.warning("audit record %d does not decode: %s", index, exc.detail)
        return None


def audit_certificate(settings: AuditConfig) -> list[list[bytes]]:
    """The PKI folder's audit certificate chain (DER, leaf first), if there is one."""
    path = settings.pki / "audit" / "audit.pem"
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        logger.warning("no audit certificate at %s: %s", path, exc)
        return []
    return [[c.public_bytes(Encoding.DER) for c in certs]]


async def read_log(settings: AuditConfig, kafka: KafkaConnection) -> tuple[list[Stored], list[bytes]]:
    """docbus.audit as read (seals beside the records) and docbus.checkpoints, read first."""
    cps = await read_values(kafka, settings.checkpoint_topic)
    topic = [Stored(m.value, m.header(SEAL_HEADER)) async for m in read_topic(kafka, settings.audit_topic)]
    return topic, cps


async def load_log(
    settings: AuditConfig, kafka: KafkaConnection, policy: TrustPolicy, *, now: datetime
) -> LogView:
    """Checkpoints are read first: the writer publishes one only after the records it covers were
    acknowledged, so the log read afterwards holds them all (no false TRUNCATED while it grows).
    The seals are checked with the audit keys ``policy`` accepts (the checkpoints' and the PKI
    folder's audit certificate)."""
    topic, cps = await read_log(settings, kafka)
    keys = audit_keys(cps, policy, org=settings.audit_org, now=now, certificates=audit_certificate(settings))
    decoded = []
    for data in cps:
        try:
            decoded.append(decode(data, Checkpoint))
        except ContractError:
            continue
    sieve = Sieve(decoded, keys)
    stored = [r.data for r in sieve.run(topic)]
    for f in sieve.foreign:
        logger.warning("foreign audit record at position %d: %s", f.position, f.why)
    signed, verified = 0, []
    for data in cps:
        try:
            cp = decode(data, Checkpoint)
            verify_checkpoint(cp, keys)
        except (ContractError, AuditError):
            continue
        verified.append(data)
        if cp.tree_size <= len(stored):
            signed = max(signed, cp.tree_size)
    return LogView(stored, cps, sieve.foreign, topic, signed, verified)
