"""Fair batches: records read ahead of deciding, one lane per source partition, and each batch
takes them round robin across the lanes.

Ingress is keyed by sender, so a flood from one sender fills one partition. faust's channel queue
is in fetch order: a fetch brings thousands of a flooded partition's records at once, and every
other partition's records queue behind them (a 5,000-record junk flood held everyone else's mail
for seconds). Here the records are moved from that queue into a lane per partition, everything
queued at once (faust's stream takes one record per turn of the event loop, so it could never get
ahead of the decisions), at most ``limit`` records and ``limit_bytes`` of values held (the queue,
and faust's fetch pause behind it, wait beyond that); a batch takes one record of each non-empty
lane in turn: a partition gets at most its share of a batch while others wait, and order within a
partition — what continuity and the committed offsets rely on — is kept.

Lanes are emptied when partitions are revoked (as faust empties its own stream buffers): the
records come again, from the committed offsets, to whichever worker holds the partition next.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from consumers.bus.agents.trail import Trail

__all__ = ["Lanes", "Queue"]

_CHUNK = 1000  # records moved per turn of the event loop at most


class Queue(Protocol):
    """What the lanes read: faust's channel queue (an asyncio queue)."""

    async def get(self) -> Any: ...
    def get_nowait(self) -> Any: ...
    def empty(self) -> bool: ...


class Lanes:
    def __init__(self, limit: int, limit_bytes: int) -> None:
        self.limit = limit
        self.limit_bytes = limit_bytes
        self._lanes: dict[Any, deque[Any]] = {}  # TP -> events in offset order
        self._held = 0
        self._bytes = 0
        self._changed = asyncio.Event()  # records came in, or were taken out
        #: the agent's batch still being finished (consumers/bus/agents/batches.py); kept here, with
        #: the agent's other state, so an agent started again finishes its batches after it
        self.finishing: asyncio.Future[None] | None = None
        #: its stored batches' offsets, committed behind it (consumers/bus/agents/trail.py)
        self.trail = Trail()

    @property
    def held(self) -> int:
        return self._held

    async def fill(self, queue: Queue, admit: Callable[[Any], bool]) -> None:
        """Move records from ``queue`` (the agent's channel queue) into the lanes, as many as are
        there and fit at once; wait while the lanes are full. ``admit`` drops a record that must
        not be decided (faust's bookkeeping, consumers/bus/agents/batches.py)."""
        while True:
            while self._held >= self.limit or self._bytes >= self.limit_bytes:
                self._changed.clear()
                await self._changed.wait()
            taken = [await queue.get()]
            room = min(_CHUNK, self.limit - self._held)
            try:
                while len(taken) < room and not queue.empty():
                    taken.append(queue.get_nowait())  # raises what faust threw into the queue
            finally:  # what was taken before it is kept
                self._add([event for event in taken if admit(event)])

    def _add(self, events: list[Any]) -> None:
        for event in events:
            self._lanes.setdefault(event.message.tp, deque()).append(event)
            self._bytes += _size(event)
        self._held += len(events)
        if events:
            self._changed.set()

    async def batch(self, size: int) -> list[Any]:
        """Up to ``size`` records, round robin over the lanes; waits for at least one."""
        while not self._held:
            self._changed.clear()
            await self._changed.wait()
        out: list[Any] = []
        while len(out) < size and self._held > len(out):
            for lane in list(self._lanes.values()):
                if lane and len(out) < size:
                    out.append(lane.popleft())
        self._forget_empty()
        self._held -= len(out)
        self._bytes -= sum(_size(event) for event in out)
        self._changed.set()
        return out

    def clear(self) -> None:
        """Partitions revoked: drop what was read ahead (it is read again from the committed offsets)."""
        self._lanes.clear()
        self._held = self._bytes = 0
        self._changed.set()

    def _forget_empty(self) -> None:
        for tp in [tp for tp, lane in self._lanes.items() if not lane]:
            del self._lanes[tp]


def _size(event: Any) -> int:
    value = event.message.value
    return len(value) if isinstance(value, bytes | bytearray) else 0
