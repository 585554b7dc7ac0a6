"""The verifier names the first fault and its exact position, for every kind of tampering."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.audit.core.chain import AuditChain, record_hash
from consumers.audit.core.merkle import MerkleTree
from consumers.audit.core.verify import FaultKind, verify_log
from schemas.audit import Checkpoint
from schemas.codec import decode, encode
from tests.audit.conftest import T0, AuditKey, Log, append_event, build_log, make_key, sign_at

N, SIZES = 40, (10, 25, 40)


@pytest.fixture(scope="module")
def log(audit_key: AuditKey) -> Log:
    return build_log(N, SIZES, audit_key)


def _flip(data: bytes, at: int, mask: int = 0x01) -> bytes:
    return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]


@pytest.mark.parametrize("decode_records", [True, False])
def test_an_intact_log_verifies(log: Log, audit_key: AuditKey, decode_records: bool) -> None:
    seen: list[int] = []
    report = verify_log(
        log.records, log.checkpoints, audit_key.keys, decode=decode_records, progress=seen.append
    )
    assert report.ok and report.fault is None
    assert (report.records, report.checkpoints, report.last_hash) == (N, 3, log.hashes[-1])
    assert seen == sorted(seen) and seen[-1] == N


def test_empty_logs(audit_key: AuditKey) -> None:
    assert verify_log([], [], audit_key.keys).ok
    empty = sign_at(MerkleTree(), [], 0, audit_key)
    assert verify_log([], [empty], audit_key.keys).checkpoints == 1


@settings(max_examples=300, deadline=None)
@given(st.integers(0, N - 1), st.integers(0, 10_000), st.integers(1, 255), st.booleans())
def test_any_flipped_byte_is_reported_at_its_record(
    log: Log, audit_key: AuditKey, k: int, offset: int, mask: int, decode_records: bool
) -> None:
    records = list(log.records)
    records[k] = _flip(records[k], offset % len(records[k]), mask)
    report = verify_log(records, log.checkpoints, audit_key.keys, decode=decode_records)
    assert not report.ok and report.fault is not None
    assert report.fault.position == k, report.fault
    assert report.records <= k


@pytest.mark.parametrize("k", [0, 5, 9, 10, 24, 38, 39])
def test_flipped_byte_kinds(log: Log, audit_key: AuditKey, k: int) -> None:
    def fault(offset: int) -> tuple[FaultKind, int | None]:
        records = list(log.records)
        records[k] = _flip(records[k], offset)
        f = verify_log(records, log.checkpoints, audit_key.keys, decode=False).fault
        assert f is not None
        return f.kind, f.position

    assert fault(3) == (FaultKind.DECODE, k)  # schema fingerprint
    assert fault(20) == (FaultKind.CHAIN_BROKEN, k)  # prev_hash
    assert fault(49)[0] in (FaultKind.INDEX_GAP, FaultKind.INDEX_DUPLICATE)  # index
    body = len(log.records[k]) - 40  # inside the detail text: still decodes
    assert fault(body) == (FaultKind.CHECKPOINT_ROOT if k == N - 1 else FaultKind.CHAIN_BROKEN, k)


def test_a_deleted_record_is_a_gap_at_its_position(log: Log, audit_key: AuditKey) -> None:
    for k in range(N - 1):
        records = log.records[:k] + log.records[k + 1 :]
        fault = verify_log(records, log.checkpoints, audit_key.keys).fault
        assert fault is not None and (fault.kind, fault.position) == (FaultKind.INDEX_GAP, k)
    # the last one: only a checkpoint knows it existed
    fault = verify_log(log.records[:-1], log.checkpoints, audit_key.keys).fault
    assert fault is not None and (fault.kind, fault.position) == (FaultKind.TRUNCATED, N - 1)


def test_swapped_neighbours_are_named(log: Log, audit_key: AuditKey) -> None:
    for k in range(N - 1):
        records = list(log.records)
        records[k], records[k + 1] = records[k + 1], records[k]
        fault = verify_log(records, log.checkpoints, audit_key.keys).fault
        assert fault is not None and (fault.kind, fault.position) == (FaultKind.INDEX_SWAP, k)


def test_records_swapped_far_apart(log: Log, audit_key: AuditKey) -> None:
    records = list(log.records)
    records[12], records[30] = records[30], records[12]
    fault = verify_log(records, log.checkpoints, audit_key.keys).fault
    assert fault is not None and (fault.kind, fault.position) == (FaultKind.INDEX_GAP, 12)


def test_duplicated_record(log: Log, audit_key: AuditKey) -> None:
    records = [*log.records[:13], log.records[12], *log.records[13:]]
    fault = verify_log(records, log.checkpoints, audit_key.keys).fault
    assert fault is not None and (fault.kind, fault.position) == (FaultKind.INDEX_DUPLICATE, 13)


@pytest.mark.parametrize(("keep", "checkpoint"), [(39, 2), (30, 2), (25, 2), (24, 1), (0, 0)])
def test_truncated_log(log: Log, audit_key: AuditKey, keep: int, checkpoint: int) -> None:
    report = verify_log(log.records[:keep], log.checkpoints, audit_key.keys)
    assert report.fault is not None
    assert (report.fault.kind, report.fault.position, report.fault.checkpoint) == (
        FaultKind.TRUNCATED,
        keep,
        checkpoint,
    )
    assert report.records == keep and report.checkpoints == checkpoint


def _forked(audit_key: AuditKey, size: int) -> bytes:
    """A validly signed checkpoint over a different history of the same size."""
    chain, hashes = AuditChain(), []
    for i in range(size):
        hashes.append(append_event(chain, i + 1000)[1])
    tree = MerkleTree()
    tree.extend(hashes)
    return sign_at(tree, hashes, size, audit_key, seconds=size)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_replaced_checkpoint_with_another_history(log: Log, audit_key: AuditKey, which: int) -> None:
    checkpoints = list(log.checkpoints)
    checkpoints[which] = _forked(audit_key, SIZES[which])
    fault = verify_log(log.records, checkpoints, audit_key.keys).fault
    assert fault is not None
    assert (fault.kind, fault.position, fault.checkpoint) == (
        FaultKind.CHECKPOINT_ROOT,
        SIZES[which] - 1,
        which,
    )


def test_replaced_checkpoint_with_a_forgery(log: Log, audit_key: AuditKey) -> None:
    real = decode(log.checkpoints[1], Checkpoint)
    forged = encode(real.model_copy(update={"root_hash": b"\x00" * 32}))
    fault = verify_log(log.records, [log.checkpoints[0], forged, log.checkpoints[2]], audit_key.keys).fault
    assert fault is not None and (fault.kind, fault.position, fault.checkpoint) == (
        FaultKind.CHECKPOINT_SIGNATURE,
        24,
        1,
    )


def test_checkpoint_from_an_unknown_key(log: Log, audit_key: AuditKey) -> None:
    stranger = make_key("stranger")
    checkpoints = [*log.checkpoints[:2], sign_at(log.tree, log.hashes, 40, stranger)]
    fault = verify_log(log.records, checkpoints, audit_key.keys).fault
    assert fault is not None and (fault.kind, fault.checkpoint) == (FaultKind.CHECKPOINT_SIGNATURE, 2)


def test_undecodable_checkpoint(log: Log, audit_key: AuditKey) -> None:
    fault = verify_log(log.records, [log.checkpoints[0], b"\xc3\x01junk"], audit_key.keys).fault
    assert fault is not None and (fault.kind, fault.position, fault.checkpoint) == (FaultKind.DECODE, None, 1)


def test_a_rewritten_and_rechained_log_fails_at_the_checkpoint(log: Log, audit_key: AuditKey) -> None:
    chain, records = AuditChain(), []
    for i in range(N):
        records.append(append_event(chain, i if i != 5 else 777)[0])  # record 5 rewritten, chain redone
    fault = verify_log(records, log.checkpoints, audit_key.keys).fault
    assert fault is not None and (fault.kind, fault.position, fault.checkpoint) == (
        FaultKind.CHECKPOINT_ROOT,
        9,
        0,
    )


def test_two_roots_for_one_size_are_inconsistent(log: Log, audit_key: AuditKey) -> None:
    checkpoints = [*log.checkpoints, _forked(audit_key, 25)]
    fault = verify_log(log.records, checkpoints, audit_key.keys).fault
    assert fault is not None and (fault.kind, fault.position, fault.checkpoint) == (
        FaultKind.CHECKPOINT_INCONSISTENT,
        24,
        3,
    )


def test_a_larger_tree_signed_earlier_is_inconsistent(log: Log, audit_key: AuditKey) -> None:
    early = audit_key.signer.sign(25, log.tree.root(25), log.hashes[24], T0 - timedelta(days=1))
    fault = verify_log(log.records, [log.checkpoints[0], encode(early)], audit_key.keys).fault
    assert fault is not None and (fault.kind, fault.checkpoint) == (FaultKind.CHECKPOINT_INCONSISTENT, 1)


def test_checkpoints_in_any_order_and_without_records_decode(log: Log, audit_key: AuditKey) -> None:
    report = verify_log(log.records, list(reversed(log.checkpoints)), audit_key.keys, decode=False)
    assert report.ok and report.checkpoints == 3


def test_a_record_that_hashes_right_but_does_not_decode_is_caught_when_decoding(audit_key: AuditKey) -> None:
    chain = AuditChain()
    good, _ = append_event(chain, 0)
    second, _ = append_event(chain, 1)
    bad = second + b"\x00"  # links and hashes like any record, yet is no valid audit record
    records = [good, bad]
    assert verify_log(records, [], audit_key.keys, decode=False).ok
    fault = verify_log(records, [], audit_key.keys, decode=True).fault
    assert fault is not None and (fault.kind, fault.position) == (FaultKind.DECODE, 1)
    assert record_hash(bad) != record_hash(second)
