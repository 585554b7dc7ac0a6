"""The one batch loop of the bus's agents, fair across partitions and pipelined one batch deep:
batch N+1 is decided while batch N's outputs are on their way, and N is stored in order behind it.

Batches come from :class:`Lanes` (consumers/bus/agents/lanes.py), filled straight from the
agent's channel queue: round robin over the source partitions, so a flood on one partition takes
at most its share of each batch. Each batch of
source records is decided in order (the records a restarted consumer skipped first,
consumers/bus/gaps.py), the producer is let run while the rest is decided (:class:`Pace`),
and its outputs are handed to the writer. Storing a batch — await its outputs' acknowledgements,
then write what must follow them (``after_outputs``: the sender states) and await those — runs as
a task while the next batch is decided; its offsets are then committed behind it
(consumers/bus/agents/trail.py, ``Bus.commit``): the broker round trips no longer leave the loop
idle between batches, and a commit held by a hung group coordinator holds neither. Effectively-once
holds as before: nothing is committed before every output of its batch is stored, batches are
stored one at a time in order (batch N's storing starts once N-1 is stored and at most one batch's
records wait for their commit), and a crash redoes at most the batches not yet committed — the one
decided, the one being stored and those whose commit trails — recognised by position (ADR 0001). A
record the consumer hands again — below its partition's next offset (consumers/bus/gaps.py,
``GapFiller.decided``; faust does after a rebalance) — is acked with its batch, neither decided nor
committed a second time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from faust.types import ChannelT

from consumers.bus.agents.lanes import Lanes
from consumers.bus.agents.pace import Pace
from consumers.bus.agents.trail import Trail

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

    channel = stream.channel  # an agent's stream reads a channel (a clone of its topic)
    if not isinstance(channel, ChannelT):
        raise TypeError(f"{stream} reads no channel")
    # the channel's queue, read straight into the lanes (not through the stream's iterator)
    feed = asyncio.ensure_future(lanes.fill(channel.queue, _admit(bus)))
    pace = Pace(settings.batch_wait)
    try:
        while True:
            events = await _next(lanes, settings.batch_size, feed)
            if events is None:
                # faust stopped the channel: it does only when it stops the agents (docs/BUS.md,
                # "Agent lifecycle"). End as an agent's `async for` over its stream ends then, by
                # returning: not a crash, and no supervisor starts a replacement nothing would stop
                return
            futures: Futures = []
            fresh: list[Any] = []
            again: list[Any] = []  # handed again by the consumer, decided already
            for event in events:
                msg = event.message
                if await gaps.decided(msg.partition, msg.offset):
                    again.append(event)  # handed again by the consumer (consumers/bus/gaps.py)
                    continue
                fresh.append(event)
                for skipped in await gaps.missing(msg.partition, msg.offset):
                    futures += await handle(bus, skipped)
                futures += await handle(bus, msg)
                await pace.tick()  # the producer sends what is decided while the rest is
            if again:
                logger.info("%d record(s) handed again, decided already: not decided twice", len(again))
            then = after_outputs() if after_outputs is not None else None
            previous, lanes.finishing = lanes.finishing, None
            if previous is not None:
                await previous  # in order: the batch before is stored first
            await lanes.trail.within(settings.batch_size)  # commits trail by a batch's records at most
            lanes.finishing = asyncio.ensure_future(_store(bus, futures, then, fresh, again, lanes.trail))
    finally:
        # the batch being stored is left to finish (its sender states, then its commit): an agent
        # started again after a rebalance awaits it before storing its own first batch
        feed.cancel()


def _admit(bus: Bus) -> Callable[[Any], bool]:
    """faust's own bookkeeping of a record its stream would yield (faust.streams.Stream._py_aiter,
    faust-streaming 0.15): a record fetched before the last rebalance, or while flow control is
    off, is acked and dropped (it comes again from the committed offset); any other is tracked as
    pending ack, and acked by Bus.commit once its batch is stored."""
    app = bus.app
    consumer = app.consumer

    def admit(event: Any) -> bool:
        message = event.message
        if not app.flow_control.is_active() or message.generation_id != app.consumer_generation_id:
            event.ack()
            return False
        if not message.tracked:
            message.tracked = True
            consumer.track_message(message)
        return True

    return admit


async def _next(lanes: Lanes, size: int, feed: asyncio.Future[None]) -> list[Any] | None:
    """The next fair batch; None once the channel reader ended: faust stopped the channel (it
    throws StopAsyncIteration into its queue when it stops the agents; by then its
    ``stream_wait_empty`` has had every record the lanes took decided and acked). Raises any other
    error that ended the reader."""
    if not feed.done():
        taking = asyncio.ensure_future(lanes.batch(size))
        try:
            await asyncio.wait((taking, feed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            took = taking.done()
            if not took:  # the channel stopped, or this actor is cancelled: take nothing
                taking.cancel()
        if took:
            return taking.result()
    if not isinstance(feed.exception(), StopAsyncIteration):
        feed.result()
    return None


async def _store(
    bus: Bus,
    futures: Futures,
    then: Callable[[], Awaitable[None]] | None,
    events: Sequence[Any],
    again: Sequence[Any],
    trail: Trail,
) -> None:
    await bus.acknowledged(futures)
    if then is not None:
        await then()
    trail.add(lambda stored, handed: bus.commit(stored, again=handed), events, again)
