"""The pure pieces in the order a validator and router use them, on real envelopes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.bus.decide.policy import PolicyError, ReplayGuard, SenderState
from consumers.bus.decide.routing import route_envelope
from schemas.canonical import signing_hash
from schemas.codec import decode, encode
from schemas.directory_store import DirectorySnapshot, DirectoryStore
from schemas.envelope import Envelope
from schemas.reasons import Reason
from tests.schemas.samples import CREATED, sample_envelope


def accept(store: DirectoryStore, guard: ReplayGuard, state: SenderState, env: Envelope) -> SenderState:
    plan = route_envelope(store, env.directory_snapshot, env.sender.code, env.recipients, env.groups)
    assert len(plan.topics) == len(plan.recipients)
    return guard.check_and_advance(
        state,
        message_id=env.message_id,
        sequence=env.sequence,
        prev_hash=env.previous_hash,
        signing_hash=signing_hash(env),
        created_at=env.created_at,
        now=CREATED + timedelta(seconds=2),
    )


def test_directive_to_all_departments_then_its_follow_up(snapshot: DirectorySnapshot) -> None:
    store, guard = DirectoryStore(), ReplayGuard()
    store.add(snapshot)
    first = sample_envelope(recipients=[], groups=["all-departments"], directory_snapshot=snapshot.hash)
    first = decode(encode(first), Envelope)  # what the validator sees
    plan = route_envelope(store, first.directory_snapshot, first.sender.code, first.recipients, first.groups)
    assert len(plan.topics) == 63 and plan.topics[0] == "docbus.inbox.H01"

    state = accept(store, guard, SenderState(), first)
    follow_up = sample_envelope(
        message_id="0199a0b2-7c3e-7d41-8a2b-3c4d5e6f7a8c",
        recipients=["000.00.00.H64"],  # Hà Tây, closed: goes to Hà Nội
        groups=[],
        sequence=2,
        previous_hash=signing_hash(first),
        directory_snapshot=snapshot.hash,
    )
    state = accept(store, guard, state, follow_up)
    assert state.sequence == 2 and state.last_hash == signing_hash(follow_up)

    with pytest.raises(PolicyError) as info:  # the directive delivered again
        accept(store, guard, state, first)
    assert info.value.reason is Reason.REPLAY
