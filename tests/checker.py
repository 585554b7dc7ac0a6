"""The delivery checker: did every submitted envelope end where the bus promises, once?

Pure (no Kafka): the caller reads the inbox topics, quarantine and the chained audit log, and
hands over what it found. Submissions are matched by the SHA-256 of their exact bytes, which
every output carries (inbox copies are the bytes, quarantine keeps them, audit records name
them), so undecodable submissions without a message id are matched too.

Exactly-once is judged after the deduplication the design relies on (ADR 0001): an inbox topic
may hold a copy twice (at-least-once; the inbox client keeps one per message id), the audit log
may not hold one event id twice. A submission the producer re-sent (its first send not
acknowledged, yet stored) is refused as REPLAY the second time: that is allowed, and counted.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from consumers.audit.core.events import event_id_of
from schemas.reasons import Reason

__all__ = ["AuditSeen", "Copy", "DeliveryReport", "Quarantined", "Submitted", "check_delivery", "digest"]

_REPLAY = Reason.REPLAY.value


def digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


@dataclass(frozen=True, slots=True)
class Submitted:
    """One submission: accepted with ``recipients``, or refused with ``reason`` (a Reason code)."""

    key: str  # message id, or a label for bytes that have none
    raw_hash: bytes
    recipients: frozenset[str] = frozenset()
    reason: str | None = None
    resent: int = 0  # times the producer sent the same bytes again after an unacknowledged send

    @property
    def accepted(self) -> bool:
        return self.reason is None


@dataclass(frozen=True, slots=True)
class Copy:
    """A record read from ``docbus.inbox.<org>``."""

    org: str
    message_id: str
    raw_hash: bytes


@dataclass(frozen=True, slots=True)
class Quarantined:
    raw_hash: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class AuditSeen:
    """The fields of a chained audit record that identify its event."""

    event: str
    message_id: str
    stored_hash: bytes | None
    recipient: str | None = None
    status: str | None = None
    reason: str | None = None

    @property
    def event_id(self) -> bytes:
        return event_id_of(self.event, self.message_id, self.recipient, self.status, self.reason)

    @property
    def expectation(self) -> tuple[str, str | None, str | None]:
        return (self.event, self.recipient, self.reason)


@dataclass(frozen=True)
class DeliveryReport:
    submitted: int
    accepted: int
    rejected: int
    resent: int
    delivered: dict[str, int]  # distinct accepted ids per recipient inbox
    missing: list[tuple[str, str]]  # (key, org) addressed but not in that inbox
    misdelivered: list[tuple[str, str]]  # (key, org) in an inbox it was not addressed to
    duplicated_in_topic: int  # extra copies in inbox topics (the inbox client drops them)
    duplicated_after_dedup: int  # (org, id) pairs whose copies differ: dedup by id would hide one
    lost_rejections: list[str]  # refused submissions not in quarantine with their reason
    wrongly_quarantined: list[tuple[str, str]]  # (key, reason) quarantined when it should not be
    replayed_resends: int  # re-sent accepted bytes refused as REPLAY (allowed)
    audit_records: int  # audit records of the submissions
    audit_missing: list[tuple[str, str]]  # (key, expected event)
    audit_duplicated: list[tuple[str, str]]  # (key, event) chained more than once
    audit_unexpected: list[tuple[str, str]]
    audit_verified: bool
    audit_detail: str = ""
    audit_per_id: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.audit_verified and not (
            self.missing or self.misdelivered or self.duplicated_after_dedup or self.lost_rejections
            or self.wrongly_quarantined or self.audit_missing or self.audit_duplicated
            or self.audit_unexpected
        )  # fmt: skip

    def counts(self) -> dict[str, int]:
        """The headline numbers, flat (for logs and test properties)."""
        return {
            "submitted": self.submitted, "accepted": self.accepted, "rejected": self.rejected,
            "resent": self.resent, "delivered": sum(self.delivered.values()), "missing": len(self.missing),
            "misdelivered": len(self.misdelivered), "duplicated_in_topic": self.duplicated_in_topic,
            "duplicated_after_dedup": self.duplicated_after_dedup,
            "lost_rejections": len(self.lost_rejections),
            "wrongly_quarantined": len(self.wrongly_quarantined),
            "replayed_resends": self.replayed_resends, "audit_records": self.audit_records,
            "audit_missing": len(self.audit_missing), "audit_duplicated": len(self.audit_duplicated),
            "audit_unexpected": len(self.audit_unexpected), "audit_verified": int(self.audit_verified),
        }  # fmt: skip


def _expected_events(s: Submitted) -> set[tuple[str, str | None, str | None]]:
    # one draft per decision (ACCEPTED or REJECTED, carrying the ingress position), plus ROUTED
    # per recipient: the bus writes no separate SUBMITTED draft
    if s.accepted:
        return {("ACCEPTED", None, None)} | {("ROUTED", code, None) for code in s.recipients}
    return {("REJECTED", None, s.reason)}


def check_delivery(
    submitted: Iterable[Submitted],
    copies: Iterable[Copy],
    quarantined: Iterable[Quarantined],
    audit: Iterable[AuditSeen],
    *,
    audit_verified: bool,
    audit_detail: str = "",
) -> DeliveryReport:
    """Compare what was submitted with what the bus wrote. Outputs of other submissions (another
    bus or test on the same topics) are ignored: only the submissions' hashes are looked at."""
    by_hash: Mapping[bytes, Submitted] = {s.raw_hash: s for s in submitted}
    subs = list(by_hash.values())

    per_pair: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    misdelivered: list[tuple[str, str]] = []
    for c in copies:
        s = by_hash.get(c.raw_hash)
        if s is None:
            continue
        if c.org not in s.recipients:
            misdelivered.append((s.key, c.org))
            continue
        per_pair[(c.org, c.message_id)].append(c.raw_hash)
    delivered: Counter[str] = Counter(org for org, _ in per_pair)
    seen_pairs = {(s.key, org) for s in subs for org in s.recipients if (org, s.key) in per_pair}
    missing = sorted((s.key, org) for s in subs for org in s.recipients if (s.key, org) not in seen_pairs)

    refused: dict[bytes, set[str]] = defaultdict(set)
    for q in quarantined:
        if q.raw_hash in by_hash:
            refused[q.raw_hash].add(q.reason)
    lost = sorted(s.key for s in subs if not s.accepted and s.reason not in refused.get(s.raw_hash, set()))
    wrong: list[tuple[str, str]] = []
    replays = 0
    for h, reasons in refused.items():
        s = by_hash[h]
        for reason in sorted(reasons):
            if s.accepted and reason == _REPLAY and s.resent:
                replays += 1
            elif reason != s.reason and not (reason == _REPLAY and s.resent):
                wrong.append((s.key, reason))

    a_missing, a_dup, a_unexpected, per_id = _audit(by_hash, audit)
    return DeliveryReport(
        submitted=len(subs), accepted=sum(s.accepted for s in subs),
        rejected=sum(not s.accepted for s in subs), resent=sum(s.resent for s in subs),
        delivered=dict(sorted(delivered.items())), missing=missing, misdelivered=sorted(misdelivered),
        duplicated_in_topic=sum(len(v) - 1 for v in per_pair.values()),
        duplicated_after_dedup=sum(len(set(v)) > 1 for v in per_pair.values()),
        lost_rejections=lost, wrongly_quarantined=sorted(wrong), replayed_resends=replays,
        audit_records=sum(per_id.values()), audit_missing=a_missing, audit_duplicated=a_dup,
        audit_unexpected=a_unexpected, audit_verified=audit_verified, audit_detail=audit_detail,
        audit_per_id=per_id,
    )  # fmt: skip


def _audit(
    by_hash: Mapping[bytes, Submitted], audit: Iterable[AuditSeen]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]], dict[str, int]]:
    ids: Counter[bytes] = Counter()
    found: dict[bytes, set[tuple[str, str | None, str | None]]] = defaultdict(set)
    dup: list[tuple[str, str]] = []
    unexpected: list[tuple[str, str]] = []
    per_id: Counter[str] = Counter()
    for rec in audit:
        s = by_hash.get(rec.stored_hash or b"")
        if s is None:
            continue
        per_id[s.key] += 1
        ids[rec.event_id] += 1
        label = "/".join(p for p in rec.expectation if p)
        if ids[rec.event_id] == 2:
            dup.append((s.key, label))
        found[s.raw_hash].add(rec.expectation)
        # a re-sent submission is seen again: REJECTED as REPLAY at its new position if it was accepted
        allowed = _expected_events(s) | ({("REJECTED", None, _REPLAY)} if s.resent else set())
        if rec.expectation not in allowed:
            unexpected.append((s.key, label))
    missing = sorted(
        (s.key, "/".join(p for p in e if p))
        for s in by_hash.values()
        for e in _expected_events(s)
        if e not in found.get(s.raw_hash, set())
    )
    return missing, sorted(dup), sorted(unexpected), dict(per_id)
