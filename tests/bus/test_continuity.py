"""Continuity per (sender, channel), without a broker (docs/adr/0003-continuity.md): each sending
product of an org has its own chain; a withheld or reordered dispatch is detected in its channel;
the bus states the channel's position, sealed, in its notices; a record keyed other than by its
sender's code is refused RECORD_KEY without moving anything, and the same bytes keyed right pass."""

from __future__ import annotations

from datetime import UTC, datetime

from consumers.bus.decide.validator import Accepted, Decision, Rejected
from consumers.bus.notices import BusNotices
from consumers.bus.outputs import Source, envelope_outputs
from schemas.canonical import receipt_signing_input, signing_hash
from schemas.envelope import ZERO_HASH
from schemas.reasons import Reason
from schemas.receipt import StatusCode, parse_receipt
from schemas.topics import inbox_topic
from tests.bus.test_validator import Harness
from tests.bus.world import Sender, World


def _product(world: World, code: str, channel: str) -> Sender:
    return Sender(world.identities[code], world.snapshot, channel=channel)


def _accepted(d: Decision) -> Accepted:
    assert isinstance(d, Accepted) and not d.duplicate, d
    return d


def _rejected(d: Decision, reason: Reason) -> Rejected:
    assert isinstance(d, Rejected) and d.reason is reason, d
    return d


def test_two_products_of_one_org_number_their_own_chains_side_by_side(world: World) -> None:
    bus = Harness(world)
    cli, office = world.sender("H01"), _product(world, "H01", "eoffice")
    for _ in range(3):  # interleaved: each chain starts at 1 and continues on its own
        a = _accepted(bus.check(cli.envelope(("H02",))[1]))
        b = _accepted(bus.check(office.envelope(("H02",))[1]))
        assert a.envelope.sequence == b.envelope.sequence
    assert bus.states["H01"].sequence == 3 and bus.states["H01/eoffice"].sequence == 3
    assert (a.chain, b.chain) == ("H01", "H01/eoffice")  # the default chain keeps the bare code


def test_a_withheld_dispatch_is_detected_in_its_channel_and_passes_once_delivered(world: World) -> None:
    bus, office = Harness(world), _product(world, "H02", "eoffice")
    first, second, third = (office.envelope(("H01",))[1] for _ in range(3))
    _accepted(bus.check(first))
    gap = _rejected(bus.check(third), Reason.SEQUENCE_GAP)  # 2 withheld
    assert "skips 2..2" in gap.detail and gap.state is None  # not counted
    assert gap.position is not None and gap.position.sequence == 1 and gap.notify
    _accepted(bus.check(second))  # delivered late: the chain continues
    _accepted(bus.check(third))  # and the same bytes of 3 now follow


def test_a_reordered_or_spliced_dispatch_is_refused(world: World) -> None:
    bus, office = Harness(world), _product(world, "H02", "eoffice")
    first, second = (office.envelope(("H01",))[1] for _ in range(2))
    _rejected(bus.check(second), Reason.SEQUENCE_GAP)  # 2 before 1: the first must be 1
    _accepted(bus.check(first))
    # an envelope of another channel cannot stand in for this chain's next one: the channel is signed
    other = _product(world, "H02", "cli")
    other.sequence, other.last = 1, bus.states["H02/eoffice"].last_hash
    spliced = _rejected(bus.check(other.envelope(("H01",))[1]), Reason.SEQUENCE_GAP)
    assert spliced.chain == "H02/cli" and "sequence 1, not 2" in spliced.detail
    assert bus.states["H02/eoffice"].sequence == 1
    # a previous hash that is not the channel's last envelope's
    office.last = bytes(32)
    _rejected(bus.check(office.envelope(("H01",))[1]), Reason.SEQUENCE_GAP)


def test_a_record_of_another_key_is_refused_record_key_and_moves_nothing(world: World) -> None:
    bus, h01 = Harness(world), world.sender("H01")
    env, raw = h01.envelope(("H02",))
    wrong = _rejected(bus.check(raw, record_key=b"random-key"), Reason.RECORD_KEY)
    assert wrong.notify and wrong.state is None and wrong.position is None  # told, nothing moved
    assert "random-key" in wrong.detail and "H01" in wrong.detail
    assert "H01" not in bus.states
    right = _accepted(bus.check(raw, record_key=b"H01"))  # the same bytes, keyed by the code
    assert right.envelope.message_id == env.message_id
    # a refusal for another reason under a wrong key keeps its reason and still moves nothing
    _, secret = h01.secret(("H02",))
    other = _rejected(bus.check(secret, record_key=b"x"), Reason.SECRET_REFUSED)
    assert other.state is None and bus.states["H01"].sequence == 1


def test_notices_state_the_channel_position_under_the_bus_seal(world: World) -> None:
    bus, notices = Harness(world), BusNotices(world.identities["G03.BUS"])
    office = _product(world, "H01", "eoffice")
    now = datetime.now(UTC)
    ok = _accepted(bus.check(office.envelope(("H02",))[1]))
    out = envelope_outputs(ok, ok.raw, Source("docbus.ingress", 0, 1, b"H01", now), notices)
    sent = [r for r in out.records if r.topic == inbox_topic("H01")]
    notice = parse_receipt(sent[0].value)
    assert notice.status is StatusCode.ARRIVED and notice.chain is not None
    assert (notice.chain.channel, notice.chain.sequence) == ("eoffice", 1)
    assert notice.chain.signing_hash == signing_hash(ok.envelope)
    assert [t.key for t in out.tables if t.table == "senders"] == [b"H01/eoffice"]
    # the chain is part of what the bus sealed
    seal = world.identities["G03.BUS"]
    bus_policy = bus.validator.trust
    bus_policy.verify_seal(receipt_signing_input(notice), notice.signatures, seal.org_code, now)
    # a 02 for a gap states where the bus stands, so the node can resync from it
    office.sequence = 5
    gap = _rejected(bus.check(office.envelope(("H02",))[1]), Reason.SEQUENCE_GAP)
    out = envelope_outputs(gap, b"", Source("docbus.ingress", 0, 2, b"H01", now), notices)
    told = parse_receipt(next(r.value for r in out.records if r.topic == inbox_topic("H01")))
    assert told.status is StatusCode.REJECTED and told.chain is not None
    assert (told.chain.sequence, told.chain.signing_hash) == (1, signing_hash(ok.envelope))
    assert out.tables == ()


def test_a_first_envelope_chains_from_zero_in_every_channel(world: World) -> None:
    bus = Harness(world)
    for channel in ("a", "b.c", "d_e-f"):
        env = _accepted(bus.check(_product(world, "H04", channel).envelope(("H01",))[1])).envelope
        assert env.sequence == 1 and env.previous_hash == ZERO_HASH and env.channel == channel
