"""The one batch loop of the bus's agents, fair across partitions and pipelined one batch deep:
batch N+1 is decided while batch N's outputs are on their way, and N is finished in order behind it.

Batches come from :class:`Lanes` (consumers/bus/agents/lanes.py): round robin over the source
partitions, so a flood on one partition takes at most its share of each batch. Each batch of
source records is decided in order (the records a restarted consumer skipped first,
consumers/bus/gaps.py), the producer is let run while the rest is decided (:class:`Pace`),
and its outputs are handed to the writer. Finishing a batch — await its outputs' acknowledgements,
then write what must follow them (``after_outputs``: the sender states), await those, then commit
its offsets (``Bus.commit``) — runs as a task while the next batch is decided: the three broker
round trips no longer leave the loop idle between batches. Effectively-once holds as before:
nothing is committed before every output of its batch is stored, batches finish one at a time in
order (batch N's finishing starts only once N-1's commit is done), and a crash redoes at most the
two batches not yet committed, recognised by position (ADR 0001)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from consumers.bus.agents.lanes import Lanes
from consumers.bus.agents.pace import Pace

if TYPE_CHECKING:
    from faust.types import StreamT

    from consumers.bus.app import Bus, SourceRecord
    from consumers.bus.gaps import GapFiller

__all__ = ["AfterOutputs", "Futures", "Handler", "run_batches"]

logger = logging.getLogger(__name__)

Futures = list[Awaitable[Any]]
Handler = Callable[["Bus", "SourceRecord"], Awaitable[Futures]]
#: called once a batch is decided; returns what to write once that batch's outputs are stored
AfterOutputs = Callable[[], Callable[[], Awaitable[None]]]


async def run_batches(
    bus: Bus,
    stream: StreamT[Any],
    gaps: GapFiller,
    handle: Handler,
    lanes: Lanes,
    *,
    after_outputs: AfterOutputs | None = None,
) -> None:
    """``handle`` decides one record and returns the acknowledgements of its outputs;
    ``after_outputs`` is called as soon as a batch is decided (validate_route: it takes that
    batch's sender states) and what it returns runs once the batch's outputs are acknowledged.
    ``lanes`` read the stream ahead, a lane per partition, and make the batches fair."""
    await bus.ready()
    settings = bus.settings
    chunks = stream.take_events(settings.batch_size, within=settings.batch_wait)  # type: ignore[attr-defined]
    feed = asyncio.ensure_future(lanes.fill(chunks))
    pace = Pace(settings.batch_wait)
    finishing: asyncio.Task[None] | None = None
    try:
        while True:
            events = await _next(lanes, settings.batch_size, feed)
            futures: Futures = []
            for event in events:
                msg = event.message
                for skipped in await gaps.missing(msg.partition, msg.offset):
                    futures += await handle(bus, skipped)
                futures += await handle(bus, msg)
                await pace.tick()  # the producer sends what is decided while the rest is
            then = after_outputs() if after_outputs is not None else None
            if finishing is not None:
                await finishing  # in order: the batch before is committed first
            finishing = asyncio.ensure_future(_finish(bus, futures, then, events))
    finally:
        feed.cancel()
        if finishing is not None and not finishing.done():
            finishing.cancel()  # the agent stops (shutdown): uncommitted, redone later


async def _next(lanes: Lanes, size: int, feed: asyncio.Future[None]) -> list[Any]:
    """The next fair batch; raises what ended the stream's reader, if it ended."""
    taking = asyncio.ensure_future(lanes.batch(size))
    await asyncio.wait((taking, feed), return_when=asyncio.FIRST_COMPLETED)
    if not taking.done():
        taking.cancel()
        feed.result()  # the reader's error
        raise RuntimeError("the stream's reader ended")
    return taking.result()


async def _finish(
    bus: Bus, futures: Futures, then: Callable[[], Awaitable[None]] | None, events: Sequence[Any]
) -> None:
    await bus.acknowledged(futures)
    if then is not None:
        await then()
    await bus.commit(events)
