"""The one batch loop of the bus's agents: each batch of source records is decided in order (the
records a restarted consumer skipped first, consumers/bus/gaps.py), the producer is let run while
the rest is decided (:class:`Pace`), the batch's outputs are awaited together, and only then are its
offsets committed (``Bus.commit``): nothing is committed before every output of its batch is stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from consumers.bus.agents.pace import Pace

if TYPE_CHECKING:
    from faust.types import StreamT

    from consumers.bus.app import Bus, SourceRecord
    from consumers.bus.gaps import GapFiller

__all__ = ["Futures", "Handler", "run_batches"]

Futures = list[Awaitable[Any]]
Handler = Callable[["Bus", "SourceRecord"], Awaitable[Futures]]


async def run_batches(
    bus: Bus,
    stream: StreamT[Any],
    gaps: GapFiller,
    handle: Handler,
    *,
    before_commit: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """``handle`` decides one record and returns the acknowledgements of its outputs;
    ``before_commit`` runs once the batch's outputs are acknowledged (validate_route: the sender
    states)."""
    await bus.ready()
    batches = stream.take_events(bus.settings.batch_size, within=bus.settings.batch_wait)  # type: ignore[attr-defined]
    pace = Pace(bus.settings.batch_wait)
    async for events in batches:
        futures: Futures = []
        for event in events:
            msg = event.message
            for skipped in await gaps.missing(msg.partition, msg.offset):
                futures += await handle(bus, skipped)
            futures += await handle(bus, msg)
            await pace.tick()  # the producer sends what is decided while the rest is
        await bus.acknowledged(futures)
        if before_commit is not None:
            await before_commit()
        await bus.commit(events)
