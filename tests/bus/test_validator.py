"""The validator's decisions on real signed envelopes, without a broker: every rejection path,
routing against the named snapshot, and re-processing told apart from replay."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from consumers.bus.decide.policy import SenderState
from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.rules import BUS_ENVELOPE, AllOf
from consumers.bus.decide.validator import Accepted, Decision, NumberHolder, Rejected, Validator, trust_hashes
from docbus.pki_folder import TrustFiles
from producers.builder import sign_envelope
from schemas.directory_store import DirectoryStore
from schemas.document import BusinessType, number_key
from schemas.reasons import Reason
from tests.bus.world import DEPARTMENTS, MINISTER, World, forge, named_payload, raw_of, same_number


class Harness:
    """The agent's bookkeeping around the pure validator: the two tables, in memory."""

    def __init__(self, world: World) -> None:
        store = DirectoryStore()
        store.apply(world.entries)
        self.validator = Validator(TrustFiles(world.pki).policy, store)
        self.states: dict[str, SenderState] = {}
        self.routed: dict[str, RoutedRecord] = {}
        self.numbers: dict[str, NumberHolder] = {}  # the agent's documents table
        self.offset = 0

    def check(
        self, raw: bytes, position: tuple[int, int] | None = None, record_key: bytes | None = None
    ) -> Decision:
        if position is None:
            self.offset += 1
            position = (0, self.offset)
        d = self.validator.check(
            raw,
            now=datetime.now(UTC),
            position=position,
            state_of=lambda s: self.states.get(s, SenderState()),
            routed_of=self.routed.get,
            record_key=record_key,
            number_of=self.numbers.get,
        )
        if isinstance(d, Accepted) and not d.duplicate:
            mid = d.envelope.message_id
            self.routed[mid] = RoutedRecord(d.sender, d.plan.recipients, d.signing_hash, "", position)
            self.states[d.chain] = d.state
            doc = d.envelope.document
            key = number_key(d.sender, doc.promulgation_date, doc.code_number, doc.code_notation)
            self.numbers[key] = NumberHolder(mid, doc.document_id)
        if isinstance(d, Rejected) and d.state is not None and d.chain is not None:
            self.states[d.chain] = d.state  # a refused envelope's place in its sender's chain
        return d


@pytest.fixture
def bus(world: World) -> Harness:
    return Harness(world)


def rejected(d: Decision, reason: Reason) -> Rejected:
    assert isinstance(d, Rejected), d
    assert d.reason is reason, (d.reason, d.detail)
    return d


def test_directive_to_all_departments_fans_out(world: World, bus: Harness) -> None:
    _, raw = world.sender("G03").envelope(groups=("all-departments",))
    d = bus.check(raw)
    assert isinstance(d, Accepted) and not d.duplicate
    assert d.plan.recipients == DEPARTMENTS
    assert d.trust_hashes and all(len(h) == 32 for h in d.trust_hashes)


def test_forged_signature(world: World, bus: Harness) -> None:
    env, _ = world.sender("H01").envelope(("H02",))
    d = rejected(bus.check(forge(env)), Reason.SIGNATURE_INVALID)
    # the seal does not verify: H01 is only named, not authenticated, and is told nothing
    assert d.sender == "H01" and not d.notify and d.trust_hashes


def test_revoked_certificate(world: World, bus: Harness) -> None:
    _, raw = world.sender("H03").envelope(("H01",))
    assert rejected(bus.check(raw), Reason.CERT_REVOKED).notify


def test_unknown_recipient_and_snapshot(world: World, bus: Harness) -> None:
    _, raw = world.sender("H01").envelope(("H09",))
    assert rejected(bus.check(raw), Reason.UNKNOWN_RECIPIENT).notify
    _, raw = world.sender("H01").envelope(("H02",), snapshot=bytes(32))
    assert rejected(bus.check(raw), Reason.DIRECTORY_MISMATCH).notify


def test_an_identical_resend_is_a_duplicate_and_another_envelope_under_its_id_a_replay(
    world: World, bus: Harness
) -> None:
    """The node published, never saw the acknowledgement, and sent the same bytes again: a resend
    (its 01 again), not a REPLAY; re-signed other content under the same message id is a REPLAY."""
    env, raw = world.sender("H01").envelope(("H02",))
    assert isinstance(bus.check(raw), Accepted)
    again = bus.check(raw)  # another ingress position
    assert isinstance(again, Accepted) and again.resend and again.duplicate
    doc = env.document.model_copy(update={"subject": env.document.subject + " (bản khác)"})
    other, other_raw = sign_envelope(
        world.identities["H01"], env.model_copy(update={"document": doc, "signatures": []})
    )
    assert other.message_id == env.message_id
    assert rejected(bus.check(other_raw), Reason.REPLAY).message_id == env.message_id


def test_reprocessing_the_same_record_is_a_duplicate_not_a_replay(world: World, bus: Harness) -> None:
    sender = world.sender("H02")
    _, first = sender.envelope(("H01",))
    _, second = sender.envelope(("H01",))
    a, b = bus.check(first, (3, 10)), bus.check(second, (3, 11))
    assert isinstance(a, Accepted) and isinstance(b, Accepted)
    # the bus died before committing both offsets: both records come again, state already advanced
    again_a, again_b = bus.check(first, (3, 10)), bus.check(second, (3, 11))
    assert isinstance(again_a, Accepted) and again_a.duplicate and again_a.plan.recipients == ("H01",)
    assert isinstance(again_b, Accepted) and again_b.duplicate
    assert bus.states["H02"].sequence == 2


def test_sequence_gap_and_broken_chain(world: World, bus: Harness) -> None:
    sender = world.sender("H04")
    assert isinstance(bus.check(sender.envelope(("H01",))[1]), Accepted)
    sender.envelope(("H01",))  # built, never sent: the next one skips a sequence
    rejected(bus.check(sender.envelope(("H01",))[1]), Reason.SEQUENCE_GAP)


def test_stale_envelope(world: World, bus: Harness) -> None:
    old = datetime.now(UTC) - timedelta(days=2)
    _, raw = world.sender("H01").envelope(("H02",), created_at=old)
    rejected(bus.check(raw), Reason.STALE)


def test_secret_document(world: World, bus: Harness) -> None:
    _, raw = world.sender("H01").secret(("H02",))
    d = rejected(bus.check(raw), Reason.SECRET_REFUSED)
    assert d.sender == "H01" and d.notify and d.message_id is not None


@pytest.mark.parametrize("size", [0, 1, 10, 1000])
def test_random_bytes(bus: Harness, size: int) -> None:
    d = bus.check(os.urandom(size))
    assert isinstance(d, Rejected) and d.reason in {Reason.MALFORMED, Reason.UNKNOWN_SCHEMA}
    assert d.sender is None and not d.notify


@pytest.mark.parametrize("case", ["unknown recipient", "stale", "revoked"])
def test_a_refusal_does_not_wedge_its_sender(world: World, bus: Harness, case: str) -> None:
    """The node used the number: the refused envelope of an authenticated sender takes its place in
    the chain, so the next send is accepted (before, every later envelope was SEQUENCE_GAP)."""
    code = {"revoked": "H03"}.get(case, "H04")
    sender = world.sender(code)
    assert isinstance(bus.check(sender.envelope(("H01",))[1]), Accepted) or case == "revoked"
    if case == "unknown recipient":
        _, raw = sender.envelope(("H09",))
    else:
        old = datetime.now(UTC) - timedelta(days=2)
        _, raw = sender.envelope(("H01",), created_at=old if case == "stale" else None)
    refused = bus.check(raw)
    assert isinstance(refused, Rejected) and refused.notify and refused.state is not None
    if case == "revoked":
        return  # a revoked seal still counts its number; the org must re-key before it sends again
    assert isinstance(bus.check(sender.envelope(("H01",))[1]), Accepted)


def test_a_forgery_takes_no_place_in_the_chain(world: World, bus: Harness) -> None:
    sender = world.sender("H02")
    env, _ = sender.envelope(("H01",), advance=False)
    assert rejected(bus.check(forge(env)), Reason.SIGNATURE_INVALID).state is None
    assert isinstance(bus.check(sender.envelope(("H01",))[1]), Accepted)


@pytest.mark.parametrize("case", ["duplicate recipient", "trailing bytes"])
def test_a_field_bug_of_an_authenticated_sender_is_answered(world: World, bus: Harness, case: str) -> None:
    """INVALID_FIELD / MALFORMED of an envelope that still decodes: its sender's seal verifies, so it
    gets a 02 about that envelope (before, nothing: a vendor with a field bug waited forever) and
    the refused number takes its place in its chain."""
    sender = world.sender("H04")
    if case == "duplicate recipient":
        env, reason = sender.field_bug(("H01", "H01")), Reason.INVALID_FIELD
        raw = raw_of(env)
    else:
        env, reason = sender.field_bug(("H01",)), Reason.MALFORMED
        raw = raw_of(env, b"\x00\x00")
    d = rejected(bus.check(raw), reason)
    assert d.notify and d.sender == "H04" and d.message_id == env.message_id
    assert d.notice_of is not None and d.notice_of.message_id == env.message_id and d.envelope is None
    assert isinstance(bus.check(sender.envelope(("H01",))[1]), Accepted)


def test_a_field_bug_under_a_forged_seal_tells_nobody(world: World, bus: Harness) -> None:
    env = world.sender("H02").field_bug(("H01", "H01"), sign=False)
    d = rejected(bus.check(raw_of(env)), Reason.INVALID_FIELD)
    assert not d.notify and d.notice_of is None and d.state is None


def test_document_identity_and_text(world: World, bus: Harness) -> None:
    """A signed header whose signer is not the signing official (a department official signing as
    "TM. Bộ trưởng"), a sender name that is not the directory's (a department calling itself the
    ministry), an NFD subject and a bidi override in a file name: each refused with its own code,
    and answered (the sender's seal verifies)."""
    sender = world.sender("H01")
    cases = {
        Reason.SIGNER_MISMATCH: sender.variant(("H02",), signer=MINISTER),
        Reason.SENDER_NAME: sender.variant(("H02",), sender_name="Bộ Giáo dục và Đào tạo"),
        Reason.TEXT_NOT_NFC: sender.variant(("H02",), subject=unicodedata.normalize("NFD", "Về việc")),
        Reason.FORBIDDEN_CHARACTER: sender.variant(("H02",), payload=named_payload("cv\u202efdp.exe")),
    }
    for reason, env in cases.items():
        d = rejected(bus.check(raw_of(env)), reason)
        assert d.notify and d.sender == "H01", d.detail
    assert isinstance(bus.check(sender.envelope(("H02",))[1]), Accepted)  # its chain carries on
    spaced = sender.variant(("H02",), sender_name="  sở gd&đt   HÀ NỘI ")  # case and spacing aside
    assert isinstance(bus.check(raw_of(spaced)), Accepted)


def test_a_document_number_is_one_document_per_issuer_and_year(world: World, bus: Harness) -> None:
    """A re-signed copy under a new message id and the same số/ký hiệu is DUPLICATE_DOCUMENT (it
    was accepted beside the original), also spelled in another case; an edXML update naming the
    original is accepted, one naming another document is not."""
    sender = world.sender("H01")
    original, raw = sender.envelope(("H02",))
    assert isinstance(bus.check(raw), Accepted)  # the harness records it as the number's holder
    copy = same_number(sender, original, ("H02",))
    d = rejected(bus.check(raw_of(copy)), Reason.DUPLICATE_DOCUMENT)
    assert d.notify and original.message_id in d.detail
    shouted = sender.variant(("H02",), code_number=original.document.code_number,
                             code_notation=original.document.code_notation.lower(),
                             document_id=original.document.document_id.replace("TEST", "test"))  # fmt: skip
    rejected(bus.check(raw_of(shouted)), Reason.DUPLICATE_DOCUMENT)
    other = "H01,2025/01/02,9/KHAC"
    wrong = same_number(sender, original, ("H02",), amends=BusinessType.UPDATE, names=other)
    rejected(bus.check(raw_of(wrong)), Reason.DUPLICATE_DOCUMENT)
    update = same_number(sender, original, ("H02",), amends=BusinessType.UPDATE)
    assert isinstance(bus.check(raw_of(update)), Accepted)


def test_without_the_fresh_rule_the_replay_guard_still_judges_freshness(world: World, bus: Harness) -> None:
    # the bus policy's fresh rule spares the guard a second look; a policy without it does not
    _, raw = world.sender("H01").envelope(("H02",), created_at=datetime.now(UTC) - timedelta(days=2))
    assert "before it arrived" in rejected(bus.check(raw), Reason.STALE).detail
    lenient = AllOf("no fresh rule", [r for r in BUS_ENVELOPE.rules if r.name != "fresh"])
    bus.validator = Validator(bus.validator.trust, bus.validator.directory, policy=lenient)
    assert " ago, more than " in rejected(bus.check(raw), Reason.STALE).detail


def test_trust_hashes_are_of_the_certificates_carried(world: World, bus: Harness) -> None:
    # held per chain and found again by the certificates' last bytes, then compared whole
    env, _ = world.sender("H01").envelope(("H02",))
    store, sigs = bus.validator.trust.store, env.signatures
    first = trust_hashes(store, sigs)
    leaf = sigs[0].chain[0]
    altered = leaf[:200] + bytes([leaf[200] ^ 1]) + leaf[201:]
    other = [sigs[0].model_copy(update={"chain": [altered, *sigs[0].chain[1:]]}), *sigs[1:]]
    assert trust_hashes(store, other)[0] == hashlib.sha256(altered).digest() != first[0]
    assert trust_hashes(store, sigs) == first
