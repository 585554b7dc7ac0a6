"""Crash points: where a test may kill the node (``os._exit``) to prove the state survives it.

Every write the node makes to its state folder, and every publish, is followed by a named
:func:`crash_point`. With ``DOCBUS_CRASH_AT=<name>`` in the environment the process ends there at
once (no cleanup, no flush: what a kill -9 or a power cut leaves); ``<name>#<n>`` ends it at the
n-th time the point is reached. Unset (production), a crash point is one dictionary lookup.
tests/node/test_crash_points.py runs one subprocess per point and restarts the node after it.
"""

from __future__ import annotations

import os

__all__ = ["CRASH_EXIT", "CRASH_POINTS", "crash_point"]

CRASH_EXIT = 77  # the exit status of an injected crash

CRASH_POINTS = (
    "send.signed",  # built and signed, nothing written
    "commit.outbox",  # outbox/<seq>.bin written, the state file not yet
    "commit.state",  # the state file written, nothing published
    "send.published",  # the broker acknowledged, the outbox copy not yet moved to sent/
    "send.moved",  # moved to sent/, the send not yet returned
    "flush.published",  # a pending envelope published again, not yet moved
    "resync.adopted",  # the bus's position adopted, the document not yet signed again
)

_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    """End the process here when ``DOCBUS_CRASH_AT`` names this point (and its occurrence)."""
    wanted = os.environ.get("DOCBUS_CRASH_AT")
    if not wanted:
        return
    point, _, nth = wanted.partition("#")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(nth or 1):
        os._exit(CRASH_EXIT)
