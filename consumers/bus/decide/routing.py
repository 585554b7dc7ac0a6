"""Routing decisions: which inboxes get a copy of an envelope (docs/DIRECTORY.md, "Routing").

Pure: the router agent reads the envelope's sender, recipients, groups and directory snapshot
hash, calls :func:`route_envelope`, and copies the unchanged bytes to every ``plan.topics``. The
rule itself (:func:`schemas.routing.route`) is the contract's: a sender resolves by it too.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.directory_store import DirectorySnapshot, DirectoryStore
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
    addresses = (sender, tuple(recipients), tuple(groups))
    if len(addresses[1]) + len(addresses[2]) > _SMALL:
        return route(found, sender, addresses[1], addresses[2])
    key = (id(found), *addresses)
    held = _PLANS.get(key)
    if held is not None and held[0] is found:
        return held[1]
    plan = route(found, sender, addresses[1], addresses[2])
    if len(_PLANS) >= 1_024:
        _PLANS.clear()
    _PLANS[key] = (found, plan)
    return plan


# a snapshot is immutable, so is a plan: a sender's envelopes to the same few addresses (nearly all
# of them) are routed once per snapshot; a refusal is never kept, and large address lists not at all
_SMALL = 8
_PLANS: dict[tuple[object, ...], tuple[DirectorySnapshot, RoutePlan]] = {}
