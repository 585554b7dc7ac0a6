"""Fair batches (consumers/bus/agents/lanes.py): round robin over partitions, order kept within
each, bounded read-ahead, and a flood on one partition passed by the others' records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from consumers.bus.agents.lanes import Lanes


@dataclass
class _Message:
    tp: int
    offset: int
    value: bytes = b"x" * 10
    refs: int = field(default=1)

    def incref(self) -> None:
        self.refs += 1


@dataclass
class _Event:
    message: _Message


def _events(tp: int, first: int, n: int) -> list[_Event]:
    return [_Event(_Message(tp, first + i)) for i in range(n)]


async def _chunks(*chunks: Sequence[_Event]) -> AsyncIterator[Sequence[_Event]]:
    for chunk in chunks:
        yield chunk


def _positions(batch: list[_Event]) -> list[tuple[int, int]]:
    return [(e.message.tp, e.message.offset) for e in batch]


async def test_a_flooded_partition_takes_only_its_share_and_order_is_kept() -> None:
    lanes = Lanes(limit=10_000, limit_bytes=1 << 30)
    flood, mail = _events(1, 0, 1000), _events(0, 0, 3)  # the mail was fetched after the flood
    await lanes.fill(_chunks(flood, mail))
    first = await lanes.batch(10)
    assert _positions(first)[:6] == [(1, 0), (0, 0), (1, 1), (0, 1), (1, 2), (0, 2)]
    assert all(e.message.refs == 2 for e in flood + mail)  # held for Bus.commit's ack
    taken = first + await lanes.batch(2000)
    assert len(taken) == 1003 and lanes.held == 0
    for tp in (0, 1):
        offsets = [off for p, off in _positions(taken) if p == tp]
        assert offsets == sorted(offsets)


async def test_the_stream_waits_while_the_lanes_are_full() -> None:
    lanes = Lanes(limit=5, limit_bytes=1 << 30)
    fill = asyncio.ensure_future(lanes.fill(_chunks(_events(0, 0, 5), _events(0, 5, 5))))
    while lanes.held < 5:
        await asyncio.sleep(0)
    for _ in range(20):  # however long it is let run, the second chunk does not come in
        await asyncio.sleep(0)
    assert lanes.held == 5 and not fill.done()
    assert _positions(await lanes.batch(5)) == [(0, i) for i in range(5)]
    while lanes.held < 5:  # room again: the second chunk comes in
        await asyncio.sleep(0)
    assert _positions(await lanes.batch(5)) == [(0, i) for i in range(5, 10)]
    fill.cancel()


async def test_bytes_bound_the_read_ahead_too() -> None:
    lanes = Lanes(limit=1000, limit_bytes=25)  # 10-byte values: the third one fills it
    fill = asyncio.ensure_future(lanes.fill(_chunks(_events(0, 0, 3), _events(0, 3, 1))))
    while lanes.held < 3:
        await asyncio.sleep(0)
    for _ in range(20):
        await asyncio.sleep(0)
    assert lanes.held == 3 and not fill.done()
    await lanes.batch(1)
    while lanes.held < 3:
        await asyncio.sleep(0)
    assert _positions(await lanes.batch(10)) == [(0, 1), (0, 2), (0, 3)]
    fill.cancel()


async def test_cleared_on_revocation() -> None:
    lanes = Lanes(limit=1000, limit_bytes=1 << 30)
    await lanes.fill(_chunks(_events(0, 0, 4), _events(2, 0, 4)))
    lanes.clear()
    assert lanes.held == 0
    await lanes.fill(_chunks(_events(2, 0, 1)))
    assert _positions(await lanes.batch(10)) == [(2, 0)]
