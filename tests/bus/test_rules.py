"""Acceptance as composable rules: one set, an all-of per role that fails closed when empty, the
recipient's policy a superset of the bus's, and the recipient applying the signing-time bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consumers.bus.decide.rules import (
    BUS_ENVELOPE,
    BUS_RECEIPT,
    RECIPIENT_ENVELOPE,
    RECIPIENT_RECEIPT,
    RULES,
    AcceptanceConfig,
    AllOf,
    Refusal,
    Subject,
)
from docbus.pki_folder import TrustFiles
from schemas.codec import encode
from schemas.directory_store import DirectoryStore
from schemas.errors import DocbusError
from schemas.reasons import Reason
from tests.bus.world import World, forge

POLICIES = (BUS_ENVELOPE, RECIPIENT_ENVELOPE, BUS_RECEIPT, RECIPIENT_RECEIPT)


def subject(world: World, raw: bytes, recipient: str | None = "H02", **kw: object) -> Subject:
    store = DirectoryStore()
    store.apply(world.entries)
    return Subject(
        raw=raw, now=datetime.now(UTC), trust=TrustFiles(world.pki).policy, directory=store,
        recipient=recipient, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def refusal(policy: AllOf, s: Subject) -> DocbusError:
    with pytest.raises(DocbusError) as caught:
        policy.verify(s)
    return caught.value


def test_every_policy_is_drawn_from_the_one_set() -> None:
    for policy in POLICIES:
        assert policy.rules and all(RULES[r.name] is r for r in policy.rules), policy.name
        assert len(set(policy.names)) == len(policy.names)


def test_the_recipient_applies_every_rule_of_the_bus() -> None:
    assert set(BUS_ENVELOPE.names) < set(RECIPIENT_ENVELOPE.names)
    assert set(RECIPIENT_RECEIPT.names) < set(BUS_RECEIPT.names)
    assert "signing_time.bounded" in RECIPIENT_ENVELOPE.names


def test_an_empty_policy_accepts_nothing(world: World) -> None:
    _, raw = world.sender("H01").envelope(("H02",))
    exc = refusal(AllOf("empty", []), subject(world, raw))
    assert isinstance(exc, Refusal) and exc.reason is Reason.POLICY


def test_a_good_envelope_passes_both_policies(world: World) -> None:
    _, raw = world.sender("H01").envelope(("H02",))
    for policy in (BUS_ENVELOPE, RECIPIENT_ENVELOPE):
        s = subject(world, raw)
        policy.verify(s)
        assert s.authenticated and s.document is not None and s.plan is not None


def test_the_recipient_refuses_a_backdated_signing_time(world: World) -> None:
    """The bus refused this before; the recipient did not (it skipped the bound)."""
    env, _ = world.sender("H01").envelope(("H02",))
    then = env.created_at - timedelta(days=30)
    sigs = [sig.model_copy(update={"signing_time": then}) for sig in env.signatures]
    raw = encode(env.model_copy(update={"signatures": sigs}))
    exc = refusal(RECIPIENT_ENVELOPE, subject(world, raw))
    assert exc.reason is Reason.STALE and "signing_time" in exc.detail


def test_the_recipient_refuses_what_is_not_addressed_to_it(world: World) -> None:
    _, raw = world.sender("H01").envelope(("H02",))
    assert refusal(RECIPIENT_ENVELOPE, subject(world, raw, "H04")).reason is Reason.UNKNOWN_RECIPIENT


def test_freshness_is_judged_at_arrival(world: World) -> None:
    """A recipient reading its inbox days later judges freshness when the copy arrived."""
    created = datetime.now(UTC) - timedelta(days=3)
    _, raw = world.sender("H01").envelope(("H02",), created_at=created)
    assert refusal(RECIPIENT_ENVELOPE, subject(world, raw)).reason is Reason.STALE
    RECIPIENT_ENVELOPE.verify(subject(world, raw, received_at=created + timedelta(minutes=1)))


def test_a_forgery_is_not_authenticated(world: World) -> None:
    env, _ = world.sender("H01").envelope(("H02",))
    s = subject(world, forge(env))
    assert refusal(BUS_ENVELOPE, s).reason is Reason.SIGNATURE_INVALID and not s.authenticated


def test_one_configuration_of_windows() -> None:
    with pytest.raises(ValueError):
        AcceptanceConfig(max_age=timedelta(-1))
