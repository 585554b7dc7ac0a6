"""Records the writer did not write: recognised by their seals, skipped, never halting the chain."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.audit.core.chain import AuditChain, read_link, record_hash
from consumers.audit.core.events import draft
from consumers.audit.core.report import FaultKind
from consumers.audit.core.seal import RecordSealer, seal_verifies
from consumers.audit.core.sieve import Sieve, Stored
from consumers.audit.core.verify import verify_sealed
from consumers.audit.core.writer import AuditWriter
from schemas.audit import AuditEvent, Checkpoint
from schemas.codec import decode
from tests.audit.conftest import T0, AuditKey, Log, build_log, make_key

N, SIGNED = 30, (10, 20)


@pytest.fixture(scope="module")
def log(audit_key: AuditKey) -> Log:
    return build_log(N, SIGNED, audit_key)


def _forged_after(records: list[bytes], *, message_id: str = "forged") -> bytes:
    """A correctly chained record after ``records``: what anyone who can write the topic can make."""
    _, index = read_link(records[-1])
    chain = AuditChain(index + 1, record_hash(records[-1]))
    return chain.append(
        AuditEvent.RECEIPT, at=T0, message_id=message_id, sender="G03.U002", status="03"
    ).stored


def test_an_intact_log_checks_seals_only_where_no_checkpoint_vouches(log: Log, audit_key: AuditKey) -> None:
    cps = [decode(c, Checkpoint) for c in log.checkpoints]
    sieve = Sieve(cps, audit_key.keys)
    assert [s.data for s in sieve.run(log.sealed)] == log.records
    assert sieve.foreign == [] and sieve.seals_checked == N - SIGNED[-1]  # the unsigned tail only
    report = verify_sealed(log.sealed, log.checkpoints, audit_key.keys)
    assert report.ok and report.records == N and report.foreign == ()


def test_a_forged_chained_record_at_the_tail_is_foreign(log: Log, audit_key: AuditKey) -> None:
    forged = Stored(_forged_after(log.records), b"\x07Ed25519" + bytes(32) + bytes(64))
    report = verify_sealed([*log.sealed, forged], log.checkpoints, audit_key.keys)
    assert not report.ok and report.records == N
    assert report.fault is not None and (report.fault.kind, report.fault.position) == (
        FaultKind.FOREIGN_RECORD,
        N,
    )
    assert [(f.position, f.index) for f in report.foreign] == [(N, N)]


def test_the_writer_continues_past_a_forgery_and_verify_names_it(audit_key: AuditKey) -> None:
    writer = AuditWriter(audit_key.signer)
    topic: list[Stored] = []

    def write(i: int) -> None:
        a = writer.accept(_draft(i))
        assert a is not None
        topic.append(Stored(a.stored, writer.seal_of(a)))

    for i in range(5):
        write(i)
    topic.append(Stored(_forged_after([t.data for t in topic])))  # position 5, claims index 5
    for i in range(5, 9):
        write(i)  # the writer's own chain goes on from its record 4
    cp = writer.checkpoint(T0 + timedelta(minutes=1))
    report = verify_sealed(topic, [cp], audit_key.keys)
    assert report.fault is not None and (report.fault.kind, report.fault.position) == (
        FaultKind.FOREIGN_RECORD,
        5,
    )
    assert (report.records, report.checkpoints) == (9, 1)

    again = AuditWriter.rebuild(topic, [cp], audit_key.signer)  # a restarted writer does not refuse
    assert again.size == 9 and [f.position for f in again.foreign] == [5]
    nxt = again.accept(_draft(9))
    assert nxt is not None and nxt.record.index == 9
    topic.append(Stored(nxt.stored, again.seal_of(nxt)))
    assert verify_sealed(topic, [cp], audit_key.keys).records == 10


def test_a_copy_of_a_genuine_record_is_foreign(log: Log, audit_key: AuditKey) -> None:
    report = verify_sealed([*log.sealed, log.sealed[3]], log.checkpoints, audit_key.keys)
    assert report.fault is not None and report.fault.kind is FaultKind.FOREIGN_RECORD
    assert [(f.position, f.index) for f in report.foreign] == [(N, 3)] and report.records == N


def test_a_sealed_record_of_another_log_is_foreign(log: Log, audit_key: AuditKey) -> None:
    other = build_log(N + 1, (), audit_key, variant=1000)  # same key, another log
    report = verify_sealed([*log.sealed, other.sealed[N]], log.checkpoints, audit_key.keys)
    assert [f.position for f in report.foreign] == [N] and report.records == N


def test_a_forged_first_record_does_not_take_the_place_of_the_writers(log: Log, audit_key: AuditKey) -> None:
    forged = AuditChain().append(AuditEvent.SUBMITTED, at=T0, message_id="forged", sender="G03.U001")
    report = verify_sealed([Stored(forged.stored), *log.sealed], log.checkpoints, audit_key.keys)
    assert [f.position for f in report.foreign] == [0] and report.records == N


def test_a_forgery_inside_a_signed_stretch_is_found_and_the_chain_still_verifies(
    log: Log, audit_key: AuditKey
) -> None:
    topic = [*log.sealed[:13], Stored(_forged_after(log.records[:13])), *log.sealed[13:]]
    report = verify_sealed(topic, log.checkpoints, audit_key.keys)
    assert report.fault is not None and report.fault.kind is FaultKind.FOREIGN_RECORD
    assert [f.position for f in report.foreign] == [13]
    assert (report.records, report.checkpoints) == (N, 2)


def test_a_seal_binds_key_log_and_record(log: Log, audit_key: AuditKey) -> None:
    genesis, h = log.hashes[0], log.hashes[4]
    seal = log.seals[4]
    assert seal_verifies(seal, genesis, h, audit_key.keys)
    assert not seal_verifies(seal, genesis, log.hashes[5], audit_key.keys)
    assert not seal_verifies(seal, log.hashes[1], h, audit_key.keys)
    assert not seal_verifies(seal, genesis, h, make_key("another").keys)
    stranger = RecordSealer(make_key("another").signer).seal(genesis, h)
    assert not seal_verifies(stranger, genesis, h, audit_key.keys)
    for bad in (None, b"", b"\xff", seal[:20], seal[:-1] + bytes([seal[-1] ^ 1])):
        assert not seal_verifies(bad, genesis, h, audit_key.keys)


def _draft(i: int) -> bytes:
    return draft(AuditEvent.SUBMITTED, message_id=f"m-{i}", sender="G03.U001", at=T0 + timedelta(seconds=i))[
        1
    ]
