"""Decision -> records, without a broker: every record a decision writes, with its topic, key,
headers and routing proof; refusals cost one bounded quarantine record and one audit draft."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.audit.core.events import decode_draft
from consumers.bus.decide.quarantine import MAX_DETAIL
from consumers.bus.decide.validator import Accepted, Rejected
from consumers.bus.notices import BusNotices, NoticeBudget
from consumers.bus.outputs import Outputs, Source, envelope_outputs
from consumers.inbox.proof import check_route_proof, proof_header
from consumers.trust import TrustError
from docbus.pki_folder import TrustFiles
from producers.publisher import Publisher
from schemas.codec import decode
from schemas.connection import KafkaConnection
from schemas.envelope import parse_envelope
from schemas.headers import Headers
from schemas.quarantine import QuarantineRecord
from schemas.reasons import Reason
from schemas.receipt import StatusCode, parse_receipt
from schemas.topics import (
    AUDIT_EVENTS_TOPIC,
    QUARANTINE_TOPIC,
    STATUS_TOPIC,
    inbox_topic,
    sender_status_topic,
)
from tests.bus.test_validator import Harness
from tests.bus.world import DEPARTMENTS, World, forge

NOW = datetime.now(UTC)
PROCESSOR = (("docbus_processor", b"docbus-test"),)


def _src(offset: int, key: bytes = b"G03") -> Source:
    return Source("docbus.ingress", 0, offset, key, NOW, PROCESSOR)


def _topics(out: Outputs) -> list[str]:
    return [r.topic for r in out.records]


def test_accepted_directive_writes_copies_with_proofs_notice_facts_and_drafts(world: World) -> None:
    harness, bus = Harness(world), BusNotices(world.identities["G03.BUS"])
    env, raw = world.sender("G03").envelope(groups=("all-departments",))
    decision = harness.check(raw)
    assert isinstance(decision, Accepted)
    out = envelope_outputs(decision, raw, _src(1), bus)
    n = len(DEPARTMENTS)
    # copies, notice, routing facts (docbus.status and the sender's own), ACCEPTED, ROUTED
    assert len(out.records) == n + 1 + 2 * n + 1 + n
    copies = [r for r in out.records if r.topic.startswith("docbus.inbox.") and r.value == raw]
    assert sorted(r.topic for r in copies) == sorted(inbox_topic(c) for c in DEPARTMENTS)
    policy = TrustFiles(world.pki).policy
    for r in copies:
        assert r.key == env.message_id.encode()
        recipient = dict(r.headers)["docbus_recipient"].decode()
        check_route_proof(proof_header(r.headers), parse_envelope(r.value), recipient, policy, "G03.BUS", NOW)
    notice = next(r for r in out.records if r.topic == inbox_topic("G03"))
    assert parse_receipt(notice.value).status is StatusCode.ARRIVED
    for topic in (STATUS_TOPIC, sender_status_topic("G03")):
        facts = [r for r in out.records if r.topic == topic]
        assert sorted(r.key for r in facts) == sorted(
            f"{env.message_id}/{c}/routed".encode() for c in DEPARTMENTS
        )
        assert all(r.value == notice.value for r in facts)  # the bus's sealed 01
    drafts = [decode_draft(r.value) for r in out.records if r.topic == AUDIT_EVENTS_TOPIC]
    assert [d.event.value for d in drafts] == ["ACCEPTED"] + ["ROUTED"] * n
    assert all(d.source is not None and d.source.offset == 1 for d in drafts)
    assert all(r.headers == PROCESSOR for r in out.records if r.topic == AUDIT_EVENTS_TOPIC)
    assert [(t.table, t.after_batch) for t in out.tables] == [
        ("routed", False), ("documents", False), ("senders", True),
    ]  # fmt: skip


def test_a_redirect_is_stated_in_the_01_and_named_by_the_routed_record(world: World) -> None:
    harness, bus = Harness(world), BusNotices(world.identities["G03.BUS"])
    _, raw = world.sender("G03").envelope(recipients=("H64", "H02"))
    decision = harness.check(raw)
    assert isinstance(decision, Accepted) and decision.plan.recipients == ("H01", "H02")
    out = envelope_outputs(decision, raw, _src(3), bus)
    notice = parse_receipt(next(r for r in out.records if r.topic == inbox_topic("G03")).value)
    assert notice.status is StatusCode.ARRIVED and notice.reason == "redirected: H64 -> H01"
    drafts = {d.recipient: d.detail for r in out.records if r.topic == AUDIT_EVENTS_TOPIC
              for d in [decode_draft(r.value)] if d.event.value == "ROUTED"}  # fmt: skip
    assert "H64" in drafts["H01"] and drafts["H02"] == ""
    again = envelope_outputs(decision, raw, _src(3), bus)  # the same notice id: kept once
    assert [r.key for r in again.records if r.topic == inbox_topic("G03")] == [notice.message_id.encode()]


def test_a_proof_for_one_recipient_does_not_open_another_inbox(world: World) -> None:
    harness, bus = Harness(world), BusNotices(world.identities["G03.BUS"])
    _, raw = world.sender("G03").envelope(recipients=("H01", "H02"))
    decision = harness.check(raw)
    assert isinstance(decision, Accepted)
    out = envelope_outputs(decision, raw, _src(2), bus)
    to_h01 = next(r for r in out.records if r.topic == inbox_topic("H01"))
    policy = TrustFiles(world.pki).policy
    with pytest.raises(TrustError) as caught:
        check_route_proof(proof_header(to_h01.headers), parse_envelope(raw), "H02", policy, "G03.BUS", NOW)
    assert caught.value.reason is Reason.NOT_ROUTED and "recipient" in caught.value.detail


def test_refusal_costs_one_bounded_quarantine_record_and_one_draft(world: World) -> None:
    harness, bus = Harness(world), BusNotices(world.identities["G03.BUS"])
    junk = b"\xc3\x01" + b"\x00" * (3 * 1024 * 1024)  # over the contract's size limit
    decision = harness.check(junk)
    assert isinstance(decision, Rejected)
    out = envelope_outputs(decision, junk, _src(3, key=b"H01"), bus)
    assert _topics(out) == [QUARANTINE_TOPIC, AUDIT_EVENTS_TOPIC] and out.tables == ()
    kept = decode(out.records[0].value, QuarantineRecord)
    assert len(out.records[0].value) < 80 * 1024 and len(kept.detail) <= MAX_DETAIL
    draft = decode_draft(out.records[1].value)
    assert draft.event.value == "REJECTED" and draft.reason == decision.reason.value


def test_a_forgery_gets_no_notice(world: World) -> None:
    """Its seal does not verify: the org it names is not told (quarantined and audited only)."""
    harness, bus = Harness(world), BusNotices(world.identities["G03.BUS"])
    env, _ = world.sender("H01").envelope(recipients=("H02",))
    bad = forge(env)
    decision = harness.check(bad)
    assert isinstance(decision, Rejected) and not decision.notify
    out = envelope_outputs(decision, bad, _src(9, b"H01"), bus)
    assert inbox_topic("H01") not in _topics(out)


def test_refusal_notices_are_rate_bounded_per_sender(world: World) -> None:
    harness, bus = Harness(world), BusNotices(world.identities["G03.BUS"])
    budget = NoticeBudget(burst=3, per_minute=60)
    notices = 0
    for i in range(10):
        _, bad = world.sender("H01").envelope(recipients=("H09",), advance=False)  # unknown recipient
        decision = harness.check(bad)
        assert isinstance(decision, Rejected) and decision.notify
        out = envelope_outputs(decision, bad, _src(10 + i, b"H01"), bus, notify=budget.allow("H01", 0.0))
        notices += sum(r.topic == inbox_topic("H01") for r in out.records)
        assert len(out.records) <= 3
    assert notices == 3 and budget.suppressed == 7
    assert budget.allow("H01", 1.0) and not budget.allow("H01", 1.0)  # one a second refills
    assert budget.allow("H02", 0.0)  # other senders keep their own budget


def test_an_identical_resend_writes_only_the_senders_01_again(world: World) -> None:
    """No copy, no quarantine record, no REJECTED draft, no 02, no table write: the 01 again,
    under the same notice id, so the sender's inbox keeps it once."""
    harness, bus = Harness(world), BusNotices(world.identities["G03.BUS"])
    env, raw = world.sender("H01").envelope(("H02",))
    first = envelope_outputs(harness.check(raw), raw, _src(1, b"H01"), bus)
    again = harness.check(raw)
    assert isinstance(again, Accepted) and again.resend
    out = envelope_outputs(again, raw, _src(2, b"H01"), bus)
    assert _topics(out) == [inbox_topic("H01")] and not out.tables
    notice = parse_receipt(out.records[0].value)
    assert notice.status is StatusCode.ARRIVED and notice.envelope_id == env.message_id
    [first_notice] = [r for r in first.records if r.topic == inbox_topic("H01")]
    assert out.records[0].key == first_notice.key


async def test_node_and_bus_write_the_same_cloudevents_headers(world: World) -> None:
    """The node's ingress record and every routed copy describe one event: the same ce_* headers
    (ce_time the envelope's own time), the copy adding only its routing facts."""
    written: list[tuple[str, Headers]] = []

    async def capture(topic: str, key: str, value: bytes, headers: Headers) -> object:
        written.append((topic, headers))
        return None

    publisher = Publisher(KafkaConnection(bootstrap="127.0.0.1:1"))
    publisher.send = capture  # type: ignore[method-assign]
    env, raw = world.sender("G03").envelope(recipients=("H01", "H02"))
    await publisher.publish_envelope(env, raw)
    (topic, node_headers), = written
    assert topic == "docbus.ingress"
    assert dict(node_headers)["ce_time"] == env.created_at.isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    ).encode()
    decision = Harness(world).check(raw)
    assert isinstance(decision, Accepted)
    out = envelope_outputs(decision, raw, _src(3), BusNotices(world.identities["G03.BUS"]))
    copies = [r for r in out.records if r.topic.startswith("docbus.inbox.") and r.value == raw]
    assert len(copies) == 2
    for r in copies:
        routed = dict(r.headers)
        assert {k: v for k, v in routed.items() if k.startswith("ce_")} == dict(node_headers)
        assert routed["docbus_recipient"] == r.topic.removeprefix("docbus.inbox.").encode()
