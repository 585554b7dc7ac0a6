"""The delivery checker's verdicts, without Kafka: each kind of loss or duplication is named."""

from __future__ import annotations

from tests.checker import AuditSeen, Copy, Quarantined, Submitted, check_delivery, digest

A, B, BAD = digest(b"a"), digest(b"b"), digest(b"bad")
SUBS = [
    Submitted("m-a", A, frozenset({"H01", "H02"})),
    Submitted("m-b", B, frozenset({"H01"})),
    Submitted("m-bad", BAD, reason="SIGNATURE_INVALID"),
]


def _audit_for(s: Submitted, message_id: str | None = None) -> list[AuditSeen]:
    mid = message_id or s.key
    out: list[AuditSeen] = []
    if s.accepted:
        out.append(AuditSeen("ACCEPTED", mid, s.raw_hash))
        out += [AuditSeen("ROUTED", mid, s.raw_hash, recipient=r) for r in sorted(s.recipients)]
    else:
        out.append(AuditSeen("REJECTED", mid, s.raw_hash, reason=s.reason))
    return out


def _clean() -> tuple[list[Copy], list[Quarantined], list[AuditSeen]]:
    copies = [Copy("H01", "m-a", A), Copy("H02", "m-a", A), Copy("H01", "m-b", B)]
    quarantined = [Quarantined(BAD, "SIGNATURE_INVALID")]
    audit = [rec for s in SUBS for rec in _audit_for(s)]
    return copies, quarantined, audit


def test_clean_run_counts_and_tolerates_topic_duplicates() -> None:
    copies, quarantined, audit = _clean()
    copies.append(Copy("H01", "m-a", A))  # at-least-once: a second copy in the topic
    # another bus's outputs on the same topics are not this run's business
    copies.append(Copy("H01", "other", digest(b"x")))
    quarantined.append(Quarantined(digest(b"y"), "MALFORMED"))
    report = check_delivery(SUBS, copies, quarantined, audit, audit_verified=True)
    assert report.ok
    assert report.counts()["delivered"] == 3 and report.delivered == {"H01": 2, "H02": 1}
    assert (report.submitted, report.accepted, report.rejected) == (3, 2, 1)
    assert report.duplicated_in_topic == 1 and report.duplicated_after_dedup == 0
    assert report.audit_records == 6 and report.audit_per_id == {"m-a": 3, "m-b": 2, "m-bad": 1}


def test_losses_are_named() -> None:
    copies, _, audit = _clean()
    audit = [r for r in audit if not (r.event == "ROUTED" and r.recipient == "H02")]
    report = check_delivery(SUBS, copies[:1] + copies[2:], [], audit, audit_verified=True)
    assert not report.ok
    assert report.missing == [("m-a", "H02")]
    assert report.lost_rejections == ["m-bad"]
    assert report.audit_missing == [("m-a", "ROUTED/H02")]


def test_audit_duplicates_and_failed_verification_fail() -> None:
    copies, quarantined, audit = _clean()
    report = check_delivery(SUBS, copies, quarantined, [*audit, audit[0]], audit_verified=True)
    assert report.audit_duplicated == [("m-a", "ACCEPTED")] and not report.ok
    report = check_delivery(SUBS, copies, quarantined, audit, audit_verified=False, audit_detail="CHAIN")
    assert not report.ok and report.audit_detail == "CHAIN"


def test_wrong_reason_misdelivery_and_conflicting_copies() -> None:
    copies, _, audit = _clean()
    copies += [Copy("H05", "m-b", B), Copy("H01", "m-b", A)]
    report = check_delivery(SUBS, copies, [Quarantined(BAD, "MALFORMED")], audit, audit_verified=True)
    assert report.misdelivered == [("m-b", "H05")]
    assert report.duplicated_after_dedup == 1  # H01 holds other bytes under m-b: dedup by id hides one
    assert report.lost_rejections == ["m-bad"] and report.wrongly_quarantined == [("m-bad", "MALFORMED")]


def test_replay_of_a_resent_envelope_is_allowed_only_when_resent() -> None:
    copies, quarantined, audit = _clean()
    replay = [Quarantined(A, "REPLAY")]
    replay_audit = [AuditSeen("REJECTED", "m-a", A, reason="REPLAY")]
    report = check_delivery(SUBS, copies, quarantined + replay, audit + replay_audit, audit_verified=True)
    assert report.wrongly_quarantined == [("m-a", "REPLAY")] and report.audit_unexpected
    resent = [Submitted(s.key, s.raw_hash, s.recipients, s.reason, resent=int(s.key == "m-a")) for s in SUBS]
    report = check_delivery(resent, copies, quarantined + replay, audit + replay_audit, audit_verified=True)
    assert report.ok and report.replayed_resends == 1 and report.resent == 1
