"""The writer's decisions without Kafka: duplicates dropped, rebuild from the stored log, the
checkpoint schedule, and drafts it cannot chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.audit.core.errors import AuditError
from consumers.audit.core.events import draft
from consumers.audit.core.sieve import Stored
from consumers.audit.core.verify import verify_log
from consumers.audit.core.writer import AuditWriter, CheckpointPolicy
from schemas.audit import AuditEvent, Checkpoint
from schemas.codec import decode
from schemas.reasons import Reason
from tests.audit.conftest import AuditKey

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def value(i: int, event: AuditEvent = AuditEvent.SUBMITTED) -> bytes:
    return draft(event, message_id=f"m-{i}", sender="G03.U001", at=T0 + timedelta(seconds=i))[1]


def test_duplicates_are_dropped_and_the_rest_chained(audit_key: AuditKey) -> None:
    writer = AuditWriter(audit_key.signer)
    stored = [a.stored for a in (writer.accept(value(i)) for i in (0, 1, 0, 2, 1)) if a is not None]
    assert len(stored) == 3 and writer.dropped == 2
    assert verify_log(stored, [], audit_key.keys).ok


def test_rebuild_continues_the_chain_and_remembers_every_event(audit_key: AuditKey) -> None:
    before = AuditWriter(audit_key.signer)
    stored = [before.accept(value(i)).stored for i in range(4)]  # type: ignore[union-attr]
    cp = before.checkpoint(T0 + timedelta(minutes=1))
    after = AuditWriter.rebuild(stored, [cp], audit_key.signer)
    assert (after.size, after.signed_size) == (4, 4)
    assert all(after.accept(value(i)) is None for i in range(4))
    nxt = after.accept(value(4))
    assert nxt is not None and nxt.record.index == 4
    assert verify_log([*stored, nxt.stored], [cp], audit_key.keys).ok


def test_rebuild_refuses_a_log_that_does_not_chain(audit_key: AuditKey) -> None:
    writer = AuditWriter(audit_key.signer)
    appended = [writer.accept(value(i)) for i in range(3)]
    stored = [Stored(a.stored, writer.seal_of(a)) for a in appended if a is not None]
    with pytest.raises(AuditError) as err:  # a record of the writer's own is missing
        AuditWriter.rebuild([stored[0], stored[2]], [], audit_key.signer)
    assert err.value.reason is Reason.DIGEST_MISMATCH


def test_a_draft_that_is_no_audit_record_is_refused(audit_key: AuditKey) -> None:
    writer = AuditWriter(audit_key.signer)
    with pytest.raises(AuditError) as err:
        writer.accept(b"\xc3\x01not a draft")
    assert err.value.reason is Reason.MALFORMED and writer.size == 0


def test_checkpoint_due_after_n_records_or_after_the_interval(audit_key: AuditKey) -> None:
    writer = AuditWriter(audit_key.signer, CheckpointPolicy(every=3, interval=timedelta(seconds=60)))
    assert not writer.checkpoint_due(T0)  # nothing to sign
    writer.accept(value(0))
    assert not writer.checkpoint_due(T0)  # the first interval starts now
    assert writer.checkpoint_due(T0 + timedelta(seconds=60))
    for i in (1, 2):
        writer.accept(value(i))
    assert writer.checkpoint_due(T0)  # three new records
    cp = decode(writer.checkpoint(T0 + timedelta(seconds=61)), Checkpoint)
    assert cp.tree_size == 3 and not writer.checkpoint_due(T0 + timedelta(seconds=62))
    writer.accept(value(3))
    assert not writer.checkpoint_due(T0 + timedelta(seconds=120))
    assert writer.checkpoint_due(T0 + timedelta(seconds=121))


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        CheckpointPolicy(every=0)
