"""Directory snapshots: hash, consistency, successor resolution, groups; the snapshot store."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docbus.sector import build_sector
from schemas.codec import decode, encode
from schemas.directory import (
    DIRECTORY_SNAPSHOT_CONTEXT,
    DIRECTORY_SNAPSHOT_RECORD_CONTEXT,
    DirectoryEntry,
    DirectorySnapshotRecord,
    OrgKind,
    OrgStatus,
    directory_entry_signing_input,
    directory_snapshot_signing_input,
    snapshot_hash,
)
from schemas.directory_store import MAX_SUCCESSOR_DEPTH, DirectoryError, DirectorySnapshot, DirectoryStore
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole
from tests.routing.conftest import WHEN, entry

CLOSED = OrgStatus.CLOSED


def test_hash_is_order_independent(sector: list[DirectoryEntry]) -> None:
    shuffled = list(sector)
    random.Random(7).shuffle(shuffled)
    assert DirectorySnapshot.build(shuffled).hash == DirectorySnapshot.build(sector).hash


SMALL = build_sector(5, 6)


@settings(max_examples=50, deadline=None)
@given(st.permutations(SMALL), st.integers(0, len(SMALL) - 1))
def test_hash_ignores_order_and_duplicates(entries: list[DirectoryEntry], dup: int) -> None:
    base = snapshot_hash(SMALL)
    assert DirectorySnapshot.build(entries).hash == base
    assert DirectorySnapshot.build([*entries, entries[dup]]).hash == base


def test_hash_bytes_are_documented() -> None:
    a, b = entry("G03"), entry("G03.15", parent="G03", version=3)
    expected = DIRECTORY_SNAPSHOT_CONTEXT + (2).to_bytes(4, "big")
    for e in (a, b):  # sorted by code
        code = e.code.encode()
        digest = hashlib.sha256(directory_entry_signing_input(e)).digest()
        expected += len(code).to_bytes(4, "big") + code + e.version.to_bytes(8, "big") + digest
    assert DirectorySnapshot.build([b, a]).hash == hashlib.sha256(expected).digest()


def test_published_record_names_the_snapshot(snapshot: DirectorySnapshot) -> None:
    record = snapshot.record(WHEN)
    assert record.snapshot == snapshot.hash and len(record.entries) == len(snapshot)
    assert decode(encode(record), DirectorySnapshotRecord) == record
    signing_input = directory_snapshot_signing_input(record)
    assert signing_input == DIRECTORY_SNAPSHOT_RECORD_CONTEXT + b"\x00\x00\x00\x20" + snapshot.hash + (
        1751358600000
    ).to_bytes(8, "big")


@pytest.mark.parametrize("tamper", ["hash", "version", "order"])
def test_record_must_match_its_entries(snapshot: DirectorySnapshot, tamper: str) -> None:
    raw = snapshot.record(WHEN).model_dump()
    if tamper == "hash":
        raw["snapshot"] = bytes(32)
    elif tamper == "version":
        raw["entries"][0]["version"] += 1
    else:
        raw["entries"].reverse()
    with pytest.raises(ValueError):
        DirectorySnapshotRecord.model_validate(raw)


def test_hash_changes_with_any_entry_change(sector: list[DirectoryEntry]) -> None:
    base = DirectorySnapshot.build(sector).hash
    seen = {base}
    for i in (0, 10, 70, len(sector) - 1):
        e = sector[i]
        renamed = e.model_copy(update={"name": e.name + " mới", "version": e.version + 1})
        seen.add(DirectorySnapshot.build([*sector[:i], renamed, *sector[i + 1 :]]).hash)
    seen.add(DirectorySnapshot.build(sector[:-1]).hash)  # an entry removed
    seen.add(DirectorySnapshot.build([*sector, entry("G03.U999", parent="G03")]).hash)  # added
    assert len(seen) == 7


def test_signatures_do_not_change_the_hash(sector: list[DirectoryEntry]) -> None:
    sig = Signature(
        role=SignerRole.ORGANIZATION, algorithm="Ed25519", chain=[b"c"], signing_time=WHEN, value=b"s"
    )
    sealed = [e.model_copy(update={"signatures": [sig]}) for e in sector]
    assert DirectorySnapshot.build(sealed).hash == DirectorySnapshot.build(sector).hash


def test_latest_version_wins_whatever_the_order() -> None:
    old, new = entry("H01", name="cũ"), entry("H01", name="mới", version=2)
    for order in ([old, new], [new, old]):
        snap = DirectorySnapshot.build(order)
        assert len(snap) == 1
        found = snap.entry("H01")
        assert found is not None and found.name == "mới"
    assert DirectorySnapshot.build([old, new]).hash == snapshot_hash([new])


def test_two_different_entries_under_one_version_are_refused() -> None:
    with pytest.raises(DirectoryError) as info:
        DirectorySnapshot.build([entry("H01", name="một"), entry("H01", name="hai")])
    assert info.value.reason is Reason.INVALID_FIELD
    # the same content twice (a re-sealed copy) is fine
    assert len(DirectorySnapshot.build([entry("H01"), entry("H01")])) == 1


def test_resolve_follows_successors(snapshot: DirectorySnapshot) -> None:
    assert snapshot.resolve("H64") == "H01"  # Hà Tây closed into Hà Nội
    assert snapshot.resolve("H01") == "H01"
    assert snapshot.resolve("000.00.00.H64") == "H01"  # edXML spelling
    assert snapshot.resolve("H99") is None
    assert snapshot.resolve("not a code") is None
    closed = snapshot.entry("H64")
    assert closed is not None and closed.successor == "H01" and not snapshot.is_active("H64")
    assert snapshot.is_active("H01") and not snapshot.is_active("H99")


def test_successor_chains_resolve_to_the_end() -> None:
    snap = DirectorySnapshot.build(
        [
            entry("A01", status=CLOSED, successor="A02"),
            entry("A02", status=CLOSED, successor="A03"),
            entry("A03"),
        ]
    )
    assert snap.resolve("A01") == "A03"


def test_successor_cycles_and_deep_chains_are_refused() -> None:
    cycle = [entry("A01", status=CLOSED, successor="A02"), entry("A02", status=CLOSED, successor="A01")]
    with pytest.raises(DirectoryError, match="loops"):
        DirectorySnapshot.build(cycle)
    depth = MAX_SUCCESSOR_DEPTH + 2
    chain = [entry(f"A{i:02d}", status=CLOSED, successor=f"A{i + 1:02d}") for i in range(depth)]
    with pytest.raises(DirectoryError, match="too deep"):
        DirectorySnapshot.build([*chain, entry(f"A{depth:02d}")])


@pytest.mark.parametrize(
    "entries",
    [
        [entry("A01", status=CLOSED, successor="A02")],  # successor missing
        [entry("A01", parent="A00")],  # parent missing
    ],
)
def test_dangling_references_are_refused(entries: list[DirectoryEntry]) -> None:
    with pytest.raises(DirectoryError) as info:
        DirectorySnapshot.build(entries)
    assert info.value.reason is Reason.INVALID_FIELD


def test_kind_groups(snapshot: DirectorySnapshot) -> None:
    departments = snapshot.members("all-departments")
    assert departments is not None and len(departments) == 63
    assert "H64" not in departments  # the closed one
    universities = snapshot.members("all-universities")
    assert universities is not None and len(universities) == 300
    assert snapshot.members("all-colleges") == frozenset()
    units = {"G03.01", "G03.02", "G03.03", "G03.06", "G03.09", "G03.15"}
    assert snapshot.members("all-ministry-units") == frozenset(units)
    assert snapshot.members("all-unicorns") is None


def test_children_and_lists() -> None:
    snap = DirectorySnapshot.build(
        [
            entry("G03", OrgKind.MINISTRY),
            entry("G03.15", parent="G03", groups=["van-phong"]),
            entry("G03.15.02", parent="G03.15", groups=["van-phong"]),
            entry("G03.16", parent="G03", status=CLOSED, successor="G03.15", groups=["cu"]),
        ]
    )
    assert snap.members("children:G03") == frozenset({"G03.15"})  # direct, active only
    assert snap.members("children:G03.15") == frozenset({"G03.15.02"})
    assert snap.members("children:G03.16") == frozenset(
        {"G03.15.02"}
    )  # a closed parent answers via its successor
    assert snap.members("children:G03.15.02") == frozenset()
    assert snap.members("children:G99") is None
    assert snap.members("list:van-phong") == frozenset({"G03.15", "G03.15.02"})
    assert snap.members("list:cu") == frozenset()  # known, but only closed members
    assert snap.members("list:khac") is None
    assert snap.list_names() == ["cu", "van-phong"]


def test_updated_applies_newer_entries_only(snapshot: DirectorySnapshot) -> None:
    merged = entry("H02", OrgKind.DEPARTMENT, status=CLOSED, successor="H05", version=2)
    older = entry("H02", OrgKind.DEPARTMENT, name="cũ hơn", version=1)
    nxt = snapshot.updated([merged, older])
    assert nxt.hash != snapshot.hash
    assert nxt.resolve("H02") == "H05"
    h02 = nxt.entry("H02")
    assert h02 is not None and h02.version == 2
    departments = nxt.members("all-departments")
    assert departments is not None and len(departments) == 62
    assert snapshot.resolve("H02") == "H02"  # the old snapshot is unchanged
    with pytest.raises(DirectoryError):  # same version, other content
        snapshot.updated([entry("H03", OrgKind.DEPARTMENT, name="khác")])


def test_store_keeps_the_last_n() -> None:
    store = DirectoryStore(capacity=3)
    snaps = [store.apply([entry(f"A{i:02d}")]) for i in range(5)]
    assert len(store) == 3
    assert store.current is snaps[-1]
    assert store.hashes() == [s.hash for s in snaps[2:]]
    assert store.get(snaps[0].hash) is None and snaps[0].hash not in store
    assert store.get(snaps[3].hash) is snaps[3] and snaps[3].hash in store
    assert len(snaps[4]) == 5  # each apply builds on the current snapshot


def test_store_re_adding_makes_a_snapshot_current_again() -> None:
    store = DirectoryStore(capacity=2)
    a = store.add(DirectorySnapshot.build([entry("A01")]))
    b = store.add(DirectorySnapshot.build([entry("A02")]))
    store.add(a)
    store.add(DirectorySnapshot.build([entry("A03")]))
    assert store.get(a.hash) is a and store.get(b.hash) is None


def test_store_needs_room() -> None:
    with pytest.raises(ValueError):
        DirectoryStore(capacity=0)
    assert DirectoryStore().current is None


def test_store_holds_back_entries_until_consistent() -> None:
    store = DirectoryStore()
    first = store.apply([entry("A01"), entry("A02")])
    closed = entry("A02", status=CLOSED, successor="A03", version=2)
    with pytest.raises(DirectoryError):
        store.apply([closed])  # its successor has not arrived yet
    assert store.current is first and store.pending == [closed]
    nxt = store.apply([entry("A03")])
    assert nxt.resolve("A02") == "A03" and store.pending == []
    assert store.hashes() == [first.hash, nxt.hash]


def test_a_higher_version_unblocks_a_bad_entry() -> None:
    store = DirectoryStore()
    store.apply([entry("A01")])
    with pytest.raises(DirectoryError):
        store.apply([entry("A02", parent="A09")])
    fixed = store.apply([entry("A02", parent="A01", version=2)])
    assert fixed.members("children:A01") == frozenset({"A02"})
