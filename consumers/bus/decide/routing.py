"""Routing decisions: which inboxes get a copy of an envelope (docs/DIRECTORY.md, "Routing").

Pure: the router agent reads the envelope's sender, recipients, groups and directory snapshot
hash, calls :func:`route_envelope`, and copies the unchanged bytes to every ``plan.topics``. The
rule itself (:func:`schemas.routing.route`) is the contract's: a sender resolves by it too.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.directory_store import DirectoryStore
from schemas.reasons import Reason
from schemas.routing import REDIRECTED, RoutePlan, RoutingError, check_sender, route

__all__ = [
    "REDIRECTED",
    "RoutePlan",
    "RoutingError",
    "check_sender",
    "route",
    "route_envelope",
]


def route_envelope(
    store: DirectoryStore, snapshot: bytes, sender: str, recipients: Iterable[str], groups: Iterable[str]
) -> RoutePlan:
    """:func:`route` against the snapshot the envelope names; DIRECTORY_MISMATCH if not kept."""
    found = store.get(snapshot)
    if found is None:
        kept = ", ".join(h.hex()[:16] for h in store.hashes()) or "none"
        detail = f"snapshot {bytes(snapshot).hex()[:16]} is not kept (kept: {kept})"
        raise RoutingError(Reason.DIRECTORY_MISMATCH, detail)
    return route(found, sender, recipients, groups)
