"""The directory authority's edits, pure: add, update, close a code; what a set of them changes.

Edits are staged (docbus/commands/directory.py keeps them in ``<home>/directory/staged.json``) and
checked against the published snapshot plus what is already staged. Each edit of a code is its
published version + 1; a code is never deleted and never reused (QĐ 20/2020): a closed code stays
closed and names an active successor. Refusals raise :class:`EditError` (INVALID_FIELD) with one
line saying why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.directory import DirectoryEntry, OrgKind, OrgStatus, entry_hash
from schemas.directory_store import DirectoryError, DirectorySnapshot
from schemas.errors import DocbusError
from schemas.reasons import Reason

__all__ = ["Change", "EditError", "Edits", "affected", "diff"]

_FIELDS = (
    "name", "name_en", "kind", "parent", "groups", "status", "successor", "cert_fingerprints",
    "encryption_certificate",
)  # fmt: skip


def _shown(value: Any) -> Any:
    # a certificate is shown by its SHA-256 (what a key wrap names), not as DER
    return f"sha256:{hashlib.sha256(value).hexdigest()}" if isinstance(value, bytes) else value


class EditError(DocbusError):
    """A directory edit the authority must not make (INVALID_FIELD)."""

    def __init__(self, detail: str) -> None:
        super().__init__(Reason.INVALID_FIELD, detail)


@dataclass(frozen=True, slots=True)
class Change:
    code: str
    what: str  # added | updated | closed
    before: DirectoryEntry | None
    after: DirectoryEntry

    def fields(self) -> dict[str, tuple[Any, Any]]:
        """Changed fields: name -> (before, after)."""
        if self.before is None:
            return {f: (None, _shown(getattr(self.after, f))) for f in _FIELDS if getattr(self.after, f)}
        return {
            f: (_shown(getattr(self.before, f)), _shown(getattr(self.after, f)))
            for f in _FIELDS
            if getattr(self.before, f) != getattr(self.after, f)
        }


class Edits:
    """Staged entries over a published snapshot (None: nothing published yet)."""

    def __init__(self, published: DirectorySnapshot | None, staged: Mapping[str, DirectoryEntry]) -> None:
        self.published = published
        self.staged = dict(staged)

    def _entry(self, code: str) -> DirectoryEntry | None:
        if code in self.staged:
            return self.staged[code]
        return None if self.published is None else self.published.entry(code)

    def _version(self, code: str) -> int:
        known = None if self.published is None else self.published.entry(code)
        return 1 if known is None else known.version + 1

    def _active(self, code: str, role: str) -> DirectoryEntry:
        entry = self._entry(code)
        if entry is None:
            raise EditError(f"{role} {code} is not in the directory (docbus directory show)")
        if not entry.active:
            raise EditError(f"{role} {code} is closed (successor {entry.successor}): name {entry.successor}")
        return entry

    def _parent_ok(self, code: str, parent: str | None) -> None:
        seen = [code]
        while parent is not None:
            if parent in seen:
                raise EditError(
                    f"parent {parent} of {code} would make a cycle: {' -> '.join([*seen, parent])}"
                )
            seen.append(parent)
            parent = self._active(parent, "parent").parent

    def add(self, code: str, *, name: str, kind: OrgKind, at: datetime, **fields: Any) -> DirectoryEntry:
        known = self._entry(code)
        if known is not None:
            state = "is closed" if not known.active else "exists"
            raise EditError(f"{code} {state}: codes are never reused (QĐ 20/2020); choose a new code")
        self._parent_ok(code, fields.get("parent"))
        return self._stage(
            DirectoryEntry(code=code, name=name, kind=kind, version=1, updated_at=at, **fields)
        )

    def update(self, code: str, *, at: datetime, **fields: Any) -> DirectoryEntry:
        entry = self._active(code, "org")
        if "parent" in fields:
            self._parent_ok(code, fields["parent"])
        return self._stage(self._next(entry, at, **fields))

    def close(self, code: str, *, successor: str, at: datetime) -> DirectoryEntry:
        entry = self._active(code, "org")
        if successor == code:
            raise EditError(f"{code} cannot be its own successor")
        target = self._active(successor, "successor")
        if target.parent == code:
            raise EditError(f"successor {successor} belongs to {code}: re-parent it first (directory update)")
        return self._stage(self._next(entry, at, status=OrgStatus.CLOSED, successor=successor))

    def _next(self, entry: DirectoryEntry, at: datetime, **fields: Any) -> DirectoryEntry:
        data = entry.model_dump(exclude={"signatures"})
        data.update(fields, version=self._version(entry.code), updated_at=at)
        return DirectoryEntry.model_validate(data)

    def _stage(self, entry: DirectoryEntry) -> DirectoryEntry:
        staged = {**self.staged, entry.code: entry}
        try:
            self._result(staged)
        except DirectoryError as exc:
            raise EditError(exc.detail) from None
        self.staged = staged
        return entry

    def _result(self, staged: Mapping[str, DirectoryEntry]) -> DirectorySnapshot:
        if self.published is None:
            return DirectorySnapshot.build(staged.values())
        return self.published.updated(staged.values())

    def result(self) -> DirectorySnapshot:
        """The snapshot publishing the staged entries would make."""
        return self._result(self.staged)

    def changes(self) -> list[Change]:
        return diff(self.published, self.staged.values())


def diff(published: DirectorySnapshot | None, staged: Any) -> list[Change]:
    out = []
    for entry in sorted(staged, key=lambda e: e.code):
        before = None if published is None else published.entry(entry.code)
        if before is not None and entry_hash(before) == entry_hash(entry):
            continue
        what = "added" if before is None else "closed" if not entry.active and before.active else "updated"
        out.append(Change(entry.code, what, before, entry))
    return out


def affected(before: DirectorySnapshot | None, after: DirectorySnapshot) -> list[str]:
    """Who a change reaches, one line each: codes that now resolve elsewhere, group sizes that move,
    children left under a closed parent."""
    lines = []
    for entry in after.entries():
        was = None if before is None else before.resolve(entry.code)
        now = after.resolve(entry.code)
        if was is not None and was != now:
            lines.append(f"{entry.code}: addressed to it now goes to {now} (docbus.inbox.{now}), was {was}")
        if entry.parent is not None and not after.is_active(entry.parent) and entry.active:
            lines.append(
                f"{entry.code}: its parent {entry.parent} is closed; re-parent it (directory update)"
            )
    names = ["all-departments", "all-universities", "all-colleges", "all-ministry-units"]
    names += [f"list:{n}" for n in after.list_names()]
    for group in names:
        old = set() if before is None else set(before.members(group) or ())
        new = set(after.members(group) or ())
        if old != new:
            gone, came = sorted(old - new), sorted(new - old)
            moved = ", ".join([*(f"-{c}" for c in gone), *(f"+{c}" for c in came)])
            lines.append(f"{group}: {len(old)} -> {len(new)} members ({moved})")
    return lines
