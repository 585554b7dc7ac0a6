"""Directory snapshots and the store of recent ones (docs/DIRECTORY.md). Pure: no Kafka.

A :class:`DirectorySnapshot` is the latest version of every code, checked for consistency
(successors and parents exist, successor chains end at an active code) and indexed for group
look-ups. It is named by :func:`schemas.directory.snapshot_hash`; the :class:`DirectoryStore`
keeps the last few so an envelope resolved against a slightly older snapshot still routes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType

from schemas.directory import DirectoryEntry, DirectorySnapshotRecord, EntryRef, OrgKind, snapshot_hash
from schemas.errors import DocbusError
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason

__all__ = ["KIND_GROUPS", "MAX_SUCCESSOR_DEPTH", "DirectoryError", "DirectorySnapshot", "DirectoryStore"]

logger = logging.getLogger(__name__)

MAX_SUCCESSOR_DEPTH = 8  # merges chain (a code closed into one later closed again); never deeper
KIND_GROUPS: Mapping[str, OrgKind] = MappingProxyType(
    {
        "all-departments": OrgKind.DEPARTMENT,
        "all-universities": OrgKind.UNIVERSITY,
        "all-colleges": OrgKind.COLLEGE,
        "all-ministry-units": OrgKind.MINISTRY_UNIT,
    }
)


class DirectoryError(DocbusError):
    """A set of entries does not make a consistent snapshot (INVALID_FIELD)."""


def _latest(entries: Iterable[DirectoryEntry]) -> dict[str, DirectoryEntry]:
    by_code: dict[str, DirectoryEntry] = {}
    for entry in entries:
        known = by_code.get(entry.code)
        if known is None or entry.version > known.version:
            by_code[entry.code] = entry
        elif entry.version == known.version and _content(entry) != _content(known):
            # two different entries under one version: the authority's error, never a guess
            raise DirectoryError(Reason.INVALID_FIELD, f"{entry.code} v{entry.version} exists twice")
    return by_code


def _content(entry: DirectoryEntry) -> DirectoryEntry:
    return entry.model_copy(update={"signatures": []})


class DirectorySnapshot:
    """An immutable, consistent directory: the highest version of each code among ``entries``.

    Raises DirectoryError (INVALID_FIELD) for two different entries under one code and version,
    a parent or successor that is not in the snapshot, or a successor chain that loops or is
    deeper than MAX_SUCCESSOR_DEPTH."""

    __slots__ = ("_by_code", "_children", "_hash", "_kinds", "_lists", "_resolved")

    def __init__(self, entries: Iterable[DirectoryEntry]) -> None:
        self._by_code = _latest(entries)
        self._hash = snapshot_hash(self._by_code.values())
        self._resolved = {code: self._follow(code) for code in self._by_code}
        kinds: dict[OrgKind, set[str]] = defaultdict(set)
        children: dict[str, set[str]] = defaultdict(set)
        lists: dict[str, set[str]] = {}
        for entry in self._by_code.values():
            if entry.parent is not None and entry.parent not in self._by_code:
                raise DirectoryError(Reason.INVALID_FIELD, f"{entry.code}: parent {entry.parent} unknown")
            for name in entry.groups:
                members = lists.setdefault(name, set())  # a list of closed codes only is known, empty
                if entry.active:
                    members.add(entry.code)
            if entry.active:
                kinds[entry.kind].add(entry.code)
                if entry.parent is not None:
                    children[entry.parent].add(entry.code)
        self._kinds = {k: frozenset(v) for k, v in kinds.items()}
        self._children = {k: frozenset(v) for k, v in children.items()}
        self._lists = {k: frozenset(v) for k, v in lists.items()}

    @classmethod
    def build(cls, entries: Iterable[DirectoryEntry]) -> DirectorySnapshot:
        return cls(entries)

    def updated(self, entries: Iterable[DirectoryEntry]) -> DirectorySnapshot:
        """A new snapshot: this one with ``entries`` of a higher version applied (lower versions
        are ignored; the same version with other content is refused)."""
        return DirectorySnapshot([*self._by_code.values(), *entries])

    def _follow(self, code: str) -> str:
        seen = [code]
        entry = self._by_code[code]
        while entry.successor is not None:
            nxt = entry.successor
            if nxt in seen or len(seen) > MAX_SUCCESSOR_DEPTH:
                path = " -> ".join([*seen, nxt])
                raise DirectoryError(Reason.INVALID_FIELD, f"successor chain loops or is too deep: {path}")
            if nxt not in self._by_code:
                raise DirectoryError(Reason.INVALID_FIELD, f"{entry.code}: successor {nxt} unknown")
            seen.append(nxt)
            entry = self._by_code[nxt]
        return entry.code

    @property
    def hash(self) -> bytes:
        return self._hash

    def __len__(self) -> int:
        return len(self._by_code)

    def entries(self) -> list[DirectoryEntry]:
        """Every entry (active and closed), sorted by code."""
        return [self._by_code[c] for c in sorted(self._by_code)]

    def record(self, published_at: datetime) -> DirectorySnapshotRecord:
        """The unsigned record the directory authority seals and publishes for this snapshot."""
        refs = [EntryRef.of(e) for e in self.entries()]
        return DirectorySnapshotRecord(snapshot=self._hash, entries=refs, published_at=published_at)

    def entry(self, code: str) -> DirectoryEntry | None:
        """The entry of ``code`` (dotted or edXML form), closed or not; None if unknown."""
        key = _key(code)
        return None if key is None else self._by_code.get(key)

    def resolve(self, code: str) -> str | None:
        """The active code that now answers for ``code``: itself, or the end of its successor chain."""
        key = _key(code)
        return None if key is None else self._resolved.get(key)

    def is_active(self, code: str) -> bool:
        found = self.entry(code)
        return found is not None and found.active

    def members(self, group: str) -> frozenset[str] | None:
        """Active codes of a group address; None when the snapshot does not know the group.

        ``all-<kind>`` (see KIND_GROUPS), ``children:<code>`` (direct active children of the
        code's current holder, a closed code following its successor), ``list:<name>``."""
        kind = KIND_GROUPS.get(group)
        if kind is not None:
            return self._kinds.get(kind, frozenset())
        if group.startswith("children:"):
            parent = self.resolve(group.removeprefix("children:"))
            return None if parent is None else self._children.get(parent, frozenset())
        if group.startswith("list:"):
            return self._lists.get(group.removeprefix("list:"))
        return None

    def list_names(self) -> list[str]:
        return sorted(self._lists)


def _key(code: str) -> str | None:
    try:
        return canonical_org_code(code)
    except ValueError:
        return None  # not a code at all: unknown, like any other


class DirectoryStore:
    """The last ``capacity`` snapshots by hash; the most recently added one is ``current``."""

    def __init__(self, capacity: int = 8) -> None:
        if capacity < 1:
            raise ValueError("a directory store keeps at least one snapshot")
        self.capacity = capacity
        self._snapshots: OrderedDict[bytes, DirectorySnapshot] = OrderedDict()
        self._pending: list[DirectoryEntry] = []

    def add(self, snapshot: DirectorySnapshot) -> DirectorySnapshot:
        """Keep ``snapshot`` as the current one, dropping the oldest beyond capacity."""
        self._snapshots[snapshot.hash] = snapshot
        self._snapshots.move_to_end(snapshot.hash)
        while len(self._snapshots) > self.capacity:
            dropped, _ = self._snapshots.popitem(last=False)
            logger.info("directory snapshot %s dropped from the store", dropped.hex()[:16])
        return snapshot

    def apply(self, entries: Iterable[DirectoryEntry]) -> DirectorySnapshot:
        """Build the next snapshot from the current one, entries held back earlier and ``entries``;
        keep it and return it.

        The compacted directory topic is keyed by code, so entries of different codes arrive in
        no fixed order (a closed code before its new successor). When the result would be
        inconsistent the store keeps its current snapshot, holds the entries back for the next
        call, and raises DirectoryError; a later entry (the successor, or a higher version
        correcting a bad one) lets them through."""
        batch = [*self._pending, *entries]
        current = self.current
        try:
            nxt = DirectorySnapshot.build(batch) if current is None else current.updated(batch)
        except DirectoryError:
            self._pending = batch
            raise
        self._pending = []
        return self.add(nxt)

    @property
    def pending(self) -> list[DirectoryEntry]:
        """Entries held back by the last failed :meth:`apply`."""
        return list(self._pending)

    @property
    def current(self) -> DirectorySnapshot | None:
        return next(reversed(self._snapshots.values()), None)

    def get(self, snapshot: bytes) -> DirectorySnapshot | None:
        return self._snapshots.get(bytes(snapshot))

    def __contains__(self, snapshot: object) -> bool:
        return isinstance(snapshot, bytes) and snapshot in self._snapshots

    def __len__(self) -> int:
        return len(self._snapshots)

    def hashes(self) -> list[bytes]:
        """Kept snapshot hashes, oldest first."""
        return list(self._snapshots)
