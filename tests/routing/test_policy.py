"""Acceptance policy: replay, freshness, sequence and previous-hash continuity, state bytes."""

from __future__ import annotations

import hashlib
import pickle
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.bus.decide.policy import (
    ZERO_HASH,
    PolicyConfig,
    PolicyError,
    ReplayGuard,
    SenderState,
    check_and_advance,
)
from schemas.reasons import Reason

NOW = datetime(2025, 9, 5, 7, 0, tzinfo=UTC)


def h(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "big")).digest()


def mid(n: int) -> str:
    return str(uuid.UUID(int=n))


def send(
    state: SenderState,
    seq: int,
    *,
    guard: ReplayGuard | None = None,
    message: int | None = None,
    prev: bytes | None = None,
    created: datetime = NOW,
    now: datetime = NOW,
) -> SenderState:
    """Envelope number ``seq`` of a well-behaved sender: hash h(seq), previous hash h(seq-1)."""
    previous = prev if prev is not None else (ZERO_HASH if seq == 1 else h(seq - 1))
    return (guard or ReplayGuard()).check_and_advance(
        state,
        message_id=mid(message if message is not None else seq),
        sequence=seq,
        prev_hash=previous,
        signing_hash=h(seq),
        created_at=created,
        now=now,
    )


def reject(reason: Reason, state: SenderState, seq: int, **kw: object) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        send(state, seq, **kw)  # type: ignore[arg-type]
    assert info.value.reason is reason
    return info.value


def test_happy_path_chains_envelopes() -> None:
    state = SenderState()
    for seq in range(1, 6):
        state = send(state, seq)
    assert state.sequence == 5 and state.last_hash == h(5)
    assert list(state.ids) == [mid(i) for i in range(1, 6)]


def test_module_function_uses_default_rules() -> None:
    state = check_and_advance(
        SenderState(),
        message_id=mid(1),
        sequence=1,
        prev_hash=ZERO_HASH,
        signing_hash=h(1),
        created_at=NOW,
        now=NOW,
    )
    assert state.sequence == 1


def test_same_message_id_is_replay() -> None:
    state = send(send(SenderState(), 1), 2)
    reject(Reason.REPLAY, state, 3, message=2)


def test_resent_envelope_is_replay_even_after_its_id_is_forgotten() -> None:
    guard = ReplayGuard(PolicyConfig(max_ids=1))
    state = SenderState()
    for seq in range(1, 4):
        state = send(state, seq, guard=guard)
    assert len(state.ids) == len(state.created) == 1
    err = reject(Reason.REPLAY, state, 2, guard=guard)  # id 2 forgotten; the sequence still catches it
    assert "sequence 2 <= last accepted 3" in err.detail


def test_gap_is_detected() -> None:
    state = send(send(SenderState(), 1), 2)
    err = reject(Reason.SEQUENCE_GAP, state, 5)
    assert "skips 3..4" in err.detail


def test_previous_hash_mismatch_is_a_gap() -> None:
    state = send(SenderState(), 1)
    reject(Reason.SEQUENCE_GAP, state, 2, prev=h(99))  # a fork, or the real #1 was withheld


def test_first_envelope_must_start_the_chain() -> None:
    reject(Reason.SEQUENCE_GAP, SenderState(), 7)
    reject(Reason.SEQUENCE_GAP, SenderState(), 1, prev=h(0))  # sequence 1 with a previous hash


def test_learning_mode_accepts_a_later_first_sequence() -> None:
    guard = ReplayGuard(PolicyConfig(learn_first_sequence=True))
    state = send(SenderState(), 7, guard=guard)
    assert state.sequence == 7
    assert send(state, 8, guard=guard).sequence == 8
    reject(Reason.SEQUENCE_GAP, SenderState(), 7, guard=guard, prev=ZERO_HASH)  # a zero hash past #1


@pytest.mark.parametrize(
    ("created", "ok"),
    [
        (NOW - timedelta(hours=24), True),
        (NOW - timedelta(hours=24, milliseconds=1), False),
        (NOW + timedelta(minutes=5), True),
        (NOW + timedelta(minutes=5, milliseconds=1), False),
    ],
)
def test_freshness_window(created: datetime, ok: bool) -> None:
    if ok:
        assert send(SenderState(), 1, created=created).sequence == 1
    else:
        err = reject(Reason.STALE, SenderState(), 1, created=created)
        assert ("future" in err.detail) == (created > NOW)


def test_rejection_leaves_state_usable() -> None:
    state = send(SenderState(), 1)
    reject(Reason.STALE, state, 2, created=NOW - timedelta(days=3))
    assert send(state, 2).sequence == 2  # re-sent fresh, same sequence: accepted


def test_old_ids_are_pruned_by_time() -> None:
    state = send(SenderState(), 1, created=NOW - timedelta(hours=23))
    later = send(state, 2, created=NOW + timedelta(hours=2), now=NOW + timedelta(hours=2))
    assert list(later.ids) == [mid(2)]


ids = st.uuids().map(str)
recents = st.lists(st.tuples(ids | st.text(max_size=40), st.integers(-(2**63), 2**63 - 1)), max_size=20)
states = st.builds(
    lambda sequence, last_hash, recent: SenderState(
        sequence, last_hash, tuple(m for m, _ in recent), tuple(c for _, c in recent)
    ),
    st.integers(0, 2**63 - 1),
    st.binary(min_size=32, max_size=32),
    recents,
)


@given(states)
def test_state_bytes_round_trip(state: SenderState) -> None:
    assert SenderState.from_bytes(state.to_bytes()) == state


def test_state_bytes_layout() -> None:
    raw = SenderState(3, h(3), (mid(1),), (5,)).to_bytes()
    assert raw[:9] == b"\x01" + (3).to_bytes(8, "big") and raw[9:41] == h(3)
    assert raw[41:45] == (1).to_bytes(4, "big") and raw.endswith(mid(1).encode())


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x02" + bytes(44),
        SenderState(1, h(1), ("x",), (1,)).to_bytes()[:-1],
        SenderState().to_bytes() + b"!",
    ],
)
def test_corrupt_state_bytes_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        SenderState.from_bytes(raw)


def test_state_needs_a_full_hash() -> None:
    with pytest.raises(ValueError):
        SenderState(1, b"short")


def test_policy_error_pickles() -> None:
    err = pickle.loads(pickle.dumps(PolicyError(Reason.REPLAY, "x")))
    assert err.reason is Reason.REPLAY and err.detail == "x"
