"""Commits that trail the batches: a stored batch's offsets are committed in the background, so a
commit held by a hung group coordinator (a paused broker answers nothing until the request times
out, then the group finds its new coordinator) holds neither deciding nor storing.

One commit is on its way at a time; it takes every batch stored by then (a partition's offset only
goes up, and commits never overtake each other). The agent waits before storing another batch
while more than its bound of stored records are not committed yet (consumers/bus/agents/batches.py
uses one batch's worth): what a crash may decide again beyond the batches in flight stays bounded.
A commit that fails is raised where the agent waits, as a failed batch is."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__ = ["Commit", "Trail"]

#: commits the offsets of ``events``, acks ``again`` (``Bus.commit``)
Commit = Callable[[Sequence[Any], Sequence[Any]], Awaitable[None]]


class Trail:
    def __init__(self) -> None:
        self._events: list[Any] = []  # stored, not handed to a commit yet
        self._again: list[Any] = []
        self._held = 0  # records stored and not committed, the commit on its way included
        self._running: asyncio.Future[None] | None = None

    @property
    def held(self) -> int:
        return self._held

    def add(self, commit: Commit, events: Sequence[Any], again: Sequence[Any]) -> None:
        """A batch is stored: commit its offsets after the ones before it."""
        self._events += events
        self._again += again
        self._held += len(events)
        if self._running is None or (self._running.done() and _ended_well(self._running)):
            self._running = asyncio.ensure_future(self._commit_all(commit))

    async def within(self, limit: int) -> None:
        """Return once at most ``limit`` stored records are not committed; raises what ended a
        commit. Waiting is not cancelling: a caller cancelled here leaves the commit to finish."""
        while self._running is not None:
            if self._running.done():
                if not self._running.cancelled():
                    self._running.result()
                return
            if self._held <= limit:
                return
            await asyncio.wait((self._running,))

    async def _commit_all(self, commit: Commit) -> None:
        while self._events or self._again:
            events, again = self._events, self._again
            self._events, self._again = [], []
            try:
                await commit(events, again)
            finally:  # a commit cancelled (the worker stopping) no longer counts as held
                self._held -= len(events)


def _ended_well(done: asyncio.Future[None]) -> bool:
    """A commit that failed stays, for ``within`` to raise; one cancelled (the worker stopping) is
    not a failure."""
    return done.cancelled() or done.exception() is None
