"""Fair batches (consumers/bus/agents/lanes.py): round robin over partitions, order kept within
each, bounded read-ahead, and a flood on one partition passed by the others' records."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from consumers.bus.agents.lanes import Lanes


@dataclass
class _Message:
    tp: int
    offset: int
    value: bytes = b"x" * 10


@dataclass
class _Event:
    message: _Message


def _queue(*runs: tuple[int, int, int]) -> asyncio.Queue[_Event]:
    """(partition, first offset, count) runs, queued in that order (as fetched)."""
    queue: asyncio.Queue[_Event] = asyncio.Queue()
    for tp, first, n in runs:
        for i in range(n):
            queue.put_nowait(_Event(_Message(tp, first + i)))
    return queue


def _all(event: _Event) -> bool:
    return True


async def _settle(queue: asyncio.Queue[_Event], lanes: Lanes, held: int) -> None:
    """Let the reader run until the lanes hold ``held`` records (it moves a queue's records in a
    turn or two of the event loop)."""
    for _ in range(10):
        if lanes.held == held:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"lanes hold {lanes.held}, not {held}; {queue.qsize()} queued")


def _positions(batch: list[_Event]) -> list[tuple[int, int]]:
    return [(e.message.tp, e.message.offset) for e in batch]


async def test_a_flooded_partition_takes_only_its_share_and_order_is_kept() -> None:
    lanes = Lanes(limit=10_000, limit_bytes=1 << 30)
    queue = _queue((1, 0, 3000), (0, 0, 3))  # the mail was fetched after the flood
    reader = asyncio.ensure_future(lanes.fill(queue, _all))
    await _settle(queue, lanes, 3003)
    first = await lanes.batch(10)
    assert _positions(first)[:6] == [(1, 0), (0, 0), (1, 1), (0, 1), (1, 2), (0, 2)]
    taken = first + await lanes.batch(5000)
    assert len(taken) == 3003 and lanes.held == 0
    for tp in (0, 1):
        offsets = [off for p, off in _positions(taken) if p == tp]
        assert offsets == sorted(offsets)
    reader.cancel()


async def test_the_queue_waits_while_the_lanes_are_full() -> None:
    lanes = Lanes(limit=5, limit_bytes=1 << 30)
    queue = _queue((0, 0, 12))
    reader = asyncio.ensure_future(lanes.fill(queue, _all))
    await _settle(queue, lanes, 5)
    for _ in range(20):  # however long it is let run, no more comes in
        await asyncio.sleep(0)
    assert lanes.held == 5 and queue.qsize() == 7
    assert _positions(await lanes.batch(3)) == [(0, i) for i in range(3)]
    await _settle(queue, lanes, 5)
    assert _positions(await lanes.batch(10)) == [(0, i) for i in range(3, 8)]
    reader.cancel()


async def test_bytes_bound_the_read_ahead_too() -> None:
    lanes = Lanes(limit=1000, limit_bytes=25)  # 10-byte values: full once three are held
    queue = _queue((0, 0, 1))
    reader = asyncio.ensure_future(lanes.fill(queue, _all))
    await _settle(queue, lanes, 1)
    for i in range(1, 4):
        queue.put_nowait(_Event(_Message(0, i)))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert lanes.held == 3 and queue.qsize() == 1  # 30 bytes held >= 25: the fourth waits
    await lanes.batch(1)
    await _settle(queue, lanes, 3)
    reader.cancel()


async def test_admit_drops_what_must_not_be_decided() -> None:
    lanes = Lanes(limit=1000, limit_bytes=1 << 30)
    queue = _queue((0, 0, 10))
    reader = asyncio.ensure_future(lanes.fill(queue, lambda e: e.message.offset % 2 == 0))
    await _settle(queue, lanes, 5)
    assert _positions(await lanes.batch(10)) == [(0, i) for i in range(0, 10, 2)]
    reader.cancel()


async def test_cleared_on_revocation() -> None:
    lanes = Lanes(limit=1000, limit_bytes=1 << 30)
    queue = _queue((0, 0, 4), (2, 0, 4))
    reader = asyncio.ensure_future(lanes.fill(queue, _all))
    await _settle(queue, lanes, 8)
    lanes.clear()
    assert lanes.held == 0
    queue.put_nowait(_Event(_Message(2, 0)))
    await _settle(queue, lanes, 1)
    assert _positions(await lanes.batch(10)) == [(2, 0)]
    reader.cancel()
