"""The validator across a processor crash between storing the routing record and the sender state."""

from __future__ import annotations

from datetime import UTC, datetime

from consumers.bus.decide.policy import SenderState
from consumers.bus.decide.validator import Accepted
from tests.attacks.lab import Bus, Chain, Lab


def _recheck(bus: Bus, raw: bytes, position: tuple[int, int]) -> Accepted:
    d = bus.validator.check(
        raw, now=datetime.now(UTC), position=position,
        state_of=lambda s: bus.states.get(s, SenderState()), routed_of=bus.routed.get,
    )  # fmt: skip
    assert isinstance(d, Accepted), d
    return d


def test_routing_record_stored_sender_state_lost_is_rerouted_and_catches_up(lab: Lab, bus: Bus) -> None:
    chain = Chain(lab, "H01")
    _, first = chain.signed("H02")
    _, second = chain.signed("H02")
    assert isinstance(bus.check(first), Accepted)
    before = bus.states["H01"]
    assert isinstance(bus.check(second), Accepted)
    position = bus.routed[next(reversed(bus.routed))].position
    bus.states["H01"] = before  # the crash: the second's routing record landed, its sender state did not
    again = _recheck(bus, second, position)
    assert again.duplicate  # routed again to the same inboxes (they dedup by id), not refused as REPLAY
    assert again.state.sequence == before.sequence + 1  # and the state catches up
    bus.states["H01"] = again.state
    _, third = chain.signed("H02")
    assert isinstance(bus.check(third), Accepted)  # no SEQUENCE_GAP for the sender's next envelope


def test_a_duplicate_never_moves_the_state_backwards(lab: Lab, bus: Bus) -> None:
    chain = Chain(lab, "H04")
    _, first = chain.signed("H02")
    _, second = chain.signed("H02")
    assert isinstance(bus.check(first), Accepted)
    position = bus.routed[next(reversed(bus.routed))].position
    assert isinstance(bus.check(second), Accepted)
    again = _recheck(bus, first, position)
    assert again.duplicate and again.state == bus.states["H04"]
