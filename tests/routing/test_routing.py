"""Routing: explicit recipients, groups, closed codes, sender checks, typed failures."""

from __future__ import annotations

import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.bus.decide.routing import RoutingError, check_sender, route, route_envelope
from docbus.sector import build_sector
from schemas.directory_store import DirectorySnapshot, DirectoryStore
from schemas.errors import ContractError
from schemas.reasons import Reason
from schemas.topics import inbox_topic

MINISTRY = "G03"


def test_directive_to_all_departments_fans_out_to_63(snapshot: DirectorySnapshot) -> None:
    plan = route(snapshot, MINISTRY, [], ["all-departments"])
    assert len(plan.recipients) == 63
    assert plan.recipients == tuple(sorted(plan.recipients))
    assert "H64" not in plan.recipients
    assert plan.topics[0] == "docbus.inbox.H01" and len(set(plan.topics)) == 63
    assert plan.snapshot == snapshot.hash and plan.sender == MINISTRY


def test_two_groups_overlap_once(snapshot: DirectorySnapshot) -> None:
    plan = route(snapshot, MINISTRY, ["G03.U001"], ["all-departments", "all-universities", "list:su-pham"])
    assert len(plan.recipients) == 363


def test_closed_code_routes_to_successor_once_even_if_both_named(snapshot: DirectorySnapshot) -> None:
    plan = route(snapshot, MINISTRY, ["H64", "H01"], [])
    assert plan.recipients == ("H01",)
    assert plan.redirected == (("H64", "H01"),)
    with_group = route(snapshot, MINISTRY, ["H64"], ["all-departments"])
    assert with_group.recipients.count("H01") == 1 and len(with_group.recipients) == 63


def test_edxml_recipient_spelling_is_accepted(snapshot: DirectorySnapshot) -> None:
    assert route(snapshot, "000.00.00.G03", ["000.00.00.H01"], []).recipients == ("H01",)


def test_sender_is_left_out_of_its_groups_but_not_of_explicit_recipients(snapshot: DirectorySnapshot) -> None:
    plan = route(snapshot, "H05", [], ["all-departments"])
    assert "H05" not in plan.recipients and len(plan.recipients) == 62
    assert route(snapshot, "H05", ["H05"], []).recipients == ("H05",)


def test_children_of_the_ministry(snapshot: DirectorySnapshot) -> None:
    plan = route(snapshot, MINISTRY, [], ["children:G03"])
    assert len(plan.recipients) == 6 + 300  # units and universities; departments are top-level
    assert MINISTRY not in plan.recipients


@pytest.mark.parametrize(
    ("recipients", "groups"),
    [
        (["H99"], []),
        (["H01", "G03.U999"], []),
        ([], ["list:khong-co"]),
        ([], ["children:H99"]),
        ([], ["all-unicorns"]),
        ([], ["bogus"]),
        ([], []),  # nobody at all
        ([], ["children:H01"]),  # a known group with no member: still nobody
    ],
)
def test_unresolvable_addresses_fail_the_envelope(
    snapshot: DirectorySnapshot, recipients: list[str], groups: list[str]
) -> None:
    with pytest.raises(RoutingError) as info:
        route(snapshot, MINISTRY, recipients, groups)
    assert info.value.reason is Reason.UNKNOWN_RECIPIENT


@pytest.mark.parametrize("sender", ["H99", "H64", "bad code"])
def test_unknown_or_closed_sender(snapshot: DirectorySnapshot, sender: str) -> None:
    with pytest.raises(RoutingError) as info:
        route(snapshot, sender, ["H01"], [])
    assert info.value.reason is Reason.UNKNOWN_SENDER
    with pytest.raises(RoutingError):
        check_sender(snapshot, sender)


def test_route_envelope_uses_the_named_snapshot(snapshot: DirectorySnapshot) -> None:
    store = DirectoryStore(capacity=2)
    store.add(snapshot)
    h02 = snapshot.entry("H02")
    assert h02 is not None
    newer = store.apply([h02.model_copy(update={"version": 2, "name": "Sở GD&ĐT Hà Giang (mới)"})])
    assert store.current is newer
    # an envelope resolved against the slightly older snapshot still routes
    assert route_envelope(store, snapshot.hash, MINISTRY, ["H02"], []).snapshot == snapshot.hash
    with pytest.raises(RoutingError) as info:
        route_envelope(store, bytes(32), MINISTRY, ["H02"], [])
    assert info.value.reason is Reason.DIRECTORY_MISMATCH


def test_a_routed_plan_is_served_again_only_for_the_same_snapshot_and_addresses(
    snapshot: DirectorySnapshot,
) -> None:
    store = DirectoryStore(capacity=2)
    store.add(snapshot)
    first = route_envelope(store, snapshot.hash, MINISTRY, ["H02"], [])
    assert route_envelope(store, snapshot.hash, MINISTRY, ["H02"], []) == first
    assert route_envelope(store, snapshot.hash, MINISTRY, ["H02", "H05"], []).recipients == ("H02", "H05")
    h02 = snapshot.entry("H02")
    assert h02 is not None
    closed = store.apply([h02.model_copy(update={"version": 2, "active": False, "successor": "H05"})])
    moved = route_envelope(store, closed.hash, MINISTRY, ["H02"], [])  # the newer snapshot: its own plan
    assert (moved.snapshot, moved.recipients, moved.redirected) == (closed.hash, ("H05",), (("H02", "H05"),))
    assert route_envelope(store, snapshot.hash, MINISTRY, ["H02"], []) == first
    for _ in range(2):  # a refusal is judged each time
        with pytest.raises(RoutingError) as info:
            route_envelope(store, snapshot.hash, MINISTRY, ["H99"], [])
        assert info.value.reason is Reason.UNKNOWN_RECIPIENT


def test_inbox_topic() -> None:
    assert inbox_topic("G03.15") == "docbus.inbox.G03.15"
    assert inbox_topic("000.00.15.G03") == "docbus.inbox.G03.15"
    with pytest.raises(ContractError) as info:
        inbox_topic("G03/../x")
    assert info.value.reason is Reason.UNKNOWN_RECIPIENT


def test_routing_error_pickles() -> None:
    err = pickle.loads(pickle.dumps(RoutingError(Reason.UNKNOWN_RECIPIENT, "H99")))
    assert err.reason is Reason.UNKNOWN_RECIPIENT and err.detail == "H99"


SMALL = DirectorySnapshot.build(build_sector(8, 12, n_colleges=3))
CODES = sorted(e.code for e in SMALL.entries())
GROUPS = [
    "all-departments",
    "all-universities",
    "all-colleges",
    "children:G03",
    *(f"list:{n}" for n in SMALL.list_names()),
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(CODES), max_size=12),
    st.lists(st.sampled_from(GROUPS), max_size=4, unique=True),
    st.sampled_from([c for c in CODES if SMALL.is_active(c)]),
    st.randoms(use_true_random=False),
)
def test_plans_are_unique_sorted_and_permutation_stable(
    recipients: list[str], groups: list[str], sender: str, rnd: random.Random
) -> None:
    try:
        plan = route(SMALL, sender, recipients, groups)
    except RoutingError as exc:
        assert exc.reason is Reason.UNKNOWN_RECIPIENT  # only "nobody" is possible here
        return
    assert len(set(plan.recipients)) == len(plan.recipients)
    assert list(plan.recipients) == sorted(plan.recipients)
    assert all(SMALL.is_active(c) for c in plan.recipients)
    assert {SMALL.resolve(c) for c in recipients} <= set(plan.recipients)
    shuffled_r, shuffled_g = list(recipients), list(groups)
    rnd.shuffle(shuffled_r)
    rnd.shuffle(shuffled_g)
    assert route(SMALL, sender, shuffled_r + recipients, shuffled_g) == plan
