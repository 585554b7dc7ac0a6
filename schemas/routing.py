"""Which organisations an envelope reaches (docs/DIRECTORY.md, "Routing"): the rule both sides need.

The bus routes by it (consumers/bus/decide/routing.py) and a sender resolves by it the recipients
it wraps an encrypted payload's key to (docs/ENVELOPE.md §7.4), so both name the same codes. A
recipient or group that cannot be resolved fails the whole envelope; nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from schemas.directory_store import DirectorySnapshot
from schemas.errors import DocbusError
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason
from schemas.topics import inbox_topic

__all__ = [
    "REDIRECTED",
    "RoutePlan",
    "RoutingError",
    "check_sender",
    "route",
]


REDIRECTED = "redirected"  # the 01's note: a closed code was addressed and its successor got the copy


class RoutingError(DocbusError):
    """UNKNOWN_SENDER, UNKNOWN_RECIPIENT or DIRECTORY_MISMATCH, with a detail naming the culprit."""


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Where one envelope goes. ``recipients`` are active dotted codes, unique and sorted."""

    snapshot: bytes  # the directory snapshot hash the plan was resolved against
    sender: str  # dotted
    recipients: tuple[str, ...]
    redirected: tuple[tuple[str, str], ...]  # (closed code as named, its successor), sorted
    sender_name: str = ""  # the sender's name in that snapshot (the rule ``sender.named``)

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(inbox_topic(code) for code in self.recipients)

    @property
    def redirect_note(self) -> str:
        """What the sender's 01 states when a closed code was addressed:
        ``redirected: H64 -> H01, H65 -> H02`` (empty when nothing was redirected)."""
        pairs = ", ".join(f"{named} -> {successor}" for named, successor in self.redirected)
        return f"{REDIRECTED}: {pairs}" if pairs else ""

    def addressed_as(self, recipient: str) -> tuple[str, ...]:
        """The closed codes, as named, that ``recipient`` received this envelope for."""
        return tuple(named for named, successor in self.redirected if successor == recipient)


def check_sender(snapshot: DirectorySnapshot, sender: str) -> str:
    """The sender's dotted code if it is an active organisation of ``snapshot``; else UNKNOWN_SENDER."""
    entry = snapshot.entry(sender)
    if entry is None:
        raise RoutingError(Reason.UNKNOWN_SENDER, f"{sender} is not in directory {snapshot.hash.hex()[:16]}")
    if not entry.active:
        detail = f"{sender} is closed (successor {entry.successor}) and may not send"
        raise RoutingError(Reason.UNKNOWN_SENDER, detail)
    return entry.code


def route(
    snapshot: DirectorySnapshot, sender: str, recipients: Iterable[str], groups: Iterable[str]
) -> RoutePlan:
    """Expand explicit recipients and group addresses against ``snapshot``.

    * explicit recipients: a closed code goes to the end of its successor chain; the sender may
      name itself explicitly (and then gets a copy);
    * groups: their active members, never the sender itself (a department writing to
      ``all-departments`` does not write to itself);
    * the union is deduplicated and sorted; an empty result is an error too."""
    own = check_sender(snapshot, sender)
    chosen: set[str] = set()
    redirected: set[tuple[str, str]] = set()
    for code in recipients:
        current = snapshot.resolve(code)
        if current is None:
            detail = f"recipient {code} is not in directory {snapshot.hash.hex()[:16]}"
            raise RoutingError(Reason.UNKNOWN_RECIPIENT, detail)
        if current != canonical_org_code(code):
            redirected.add((code, current))
        chosen.add(current)
    for group in groups:
        members = snapshot.members(group)
        if members is None:
            raise RoutingError(Reason.UNKNOWN_RECIPIENT, f"group {group!r} is not known to the directory")
        chosen.update(members - {own})
    if not chosen:
        raise RoutingError(Reason.UNKNOWN_RECIPIENT, "the addresses resolve to no recipient")
    entry = snapshot.entry(own)
    name = entry.name if entry is not None else ""
    return RoutePlan(snapshot.hash, own, tuple(sorted(chosen)), tuple(sorted(redirected)), name)
