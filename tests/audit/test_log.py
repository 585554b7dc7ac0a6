from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.audit.core.chain import record_hash
from consumers.audit.core.errors import AuditError
from consumers.audit.core.log import AuditLog
from consumers.audit.core.merkle import leaf_hash
from consumers.audit.core.proofs import verify_consistency, verify_inclusion
from consumers.audit.core.verify import verify_log
from schemas.audit import AuditEvent
from schemas.codec import encode
from tests.audit.conftest import T0, AuditKey


def _fill(log: AuditLog, n: int) -> list[bytes]:
    return [
        log.append(
            AuditEvent.SUBMITTED, at=T0 + timedelta(seconds=i), message_id=f"m-{i}", sender="G03"
        ).stored
        for i in range(n)
    ]


def test_writer_checkpoints_and_proofs_verify(audit_key: AuditKey) -> None:
    log = AuditLog()
    stored = _fill(log, 7)
    first = log.checkpoint(audit_key.signer, T0 + timedelta(hours=1))
    stored += _fill(log, 6)
    second = log.checkpoint(audit_key.signer, T0 + timedelta(hours=2))
    assert (first.tree_size, second.tree_size) == (7, 13)
    report = verify_log(stored, [encode(first), encode(second)], audit_key.keys)
    assert report.ok and report.checkpoints == 2
    verify_consistency(7, 13, first.root_hash, second.root_hash, log.consistency_proof(7, 13))
    leaf = leaf_hash(record_hash(stored[3]))
    verify_inclusion(leaf, 3, 13, log.inclusion_proof(3, 13), second.root_hash)


def test_replay_rebuilds_the_same_state() -> None:
    log = AuditLog()
    stored = _fill(log, 20)
    again = AuditLog.replay(stored)
    assert again.size == 20 and again.tree.root() == log.tree.root()
    assert again.chain.last_hash == log.chain.last_hash
    nxt = again.append(AuditEvent.ACCEPTED, at=T0, message_id="m-0", sender="G03")
    assert nxt.record.index == 20 and nxt.record.prev_hash == log.chain.last_hash


def test_replay_refuses_a_broken_log() -> None:
    stored = _fill(AuditLog(), 5)
    with pytest.raises(AuditError):
        AuditLog.replay([*stored[:2], *stored[3:]])
