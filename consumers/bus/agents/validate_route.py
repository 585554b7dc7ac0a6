"""validate+route: every ingress record is decided once and its outputs stored before moving on.

The agent is a thin loop: decide (consumers/bus/decide/validator.py), turn the decision into
records (consumers/bus/outputs.py), write them (consumers/bus/writer.py); while the next batch is
decided, await the batch's acknowledgements, then store its sender states and commit its offsets
(consumers/bus/agents/batches.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from consumers.bus.agents.batches import Futures, run_batches
from consumers.bus.decide.policy import SenderState
from consumers.bus.decide.validator import Decision, NumberHolder, Rejected
from consumers.bus.outputs import Source, envelope_outputs, key_sender
from producers.fetch_guard import refusal
from schemas.errors import TransportError
from schemas.reasons import Reason

if TYPE_CHECKING:
    from faust.types import StreamT

    from consumers.bus.app import Bus, SourceRecord

__all__ = ["handle_envelope", "register"]

logger = logging.getLogger(__name__)


def register(bus: Bus) -> None:
    def states_of_batch() -> Callable[[], Awaitable[None]]:
        deferred = bus.take_deferred()  # this batch's sender states, not the next one's

        async def store_states() -> None:
            # sender states only after every inbox copy and routing record of the batch is stored:
            # a crash in between then re-routes (known by position) instead of refusing as REPLAY
            await bus.acknowledged(await bus.store_deferred(deferred))

        return store_states

    @bus.app.agent(bus.ingress, name="docbus.validate_route")
    async def validate_route(stream: StreamT[Any]) -> None:
        await run_batches(
            bus, stream, bus.ingress_gaps, handle_envelope, bus.ingress_lanes, after_outputs=states_of_batch
        )


def _decide(bus: Bus, raw: bytes, now: datetime, position: tuple[int, int], key: bytes | None) -> Decision:
    def state_of(chain: str) -> SenderState:
        key = chain.encode()
        pending = bus.pending_states.get(key)
        if isinstance(pending, SenderState):
            return pending
        stored = bus.senders.get(key)
        return SenderState() if stored is None else SenderState.from_bytes(stored)

    def number_of(number: str) -> NumberHolder | None:
        stored = bus.documents.get(number.encode())
        return None if stored is None else NumberHolder.from_bytes(stored)

    return bus.validator.check(
        raw, now=now, position=position, state_of=state_of, routed_of=bus.routed_of, record_key=key,
        number_of=number_of,
    )


async def handle_envelope(bus: Bus, msg: SourceRecord) -> Futures:
    """Decide on one record and hand its outputs to the producer; returns their acknowledgements.
    ``msg``: a faust message or an aiokafka record (topic, partition, offset, key, value)."""
    raw: bytes = msg.value or b""
    now = datetime.now(UTC)
    position = (msg.partition, msg.offset)
    refused = refusal(msg.headers)  # a batch the consumer refused to decode (producers/fetch_guard.py)
    decision = Rejected(*refused) if refused is not None else _decide(bus, raw, now, position, msg.key)
    if isinstance(decision, Rejected) and decision.reason is Reason.DIRECTORY_MISMATCH:
        try:  # a snapshot published after our last look: read the directory, then decide again
            await bus.feed.catch_up(bus.settings.directory_timeout)
        except (TimeoutError, TransportError) as exc:  # the reader's ReadError: not within the time
            logger.warning("directory catch-up failed (%s); deciding with what is held", exc)
        decision = _decide(bus, raw, now, position, msg.key)
    decision = await bus.blob_check.check(decision)  # chunked payloads complete and matching
    notify = True
    if isinstance(decision, Rejected) and decision.notify:
        notify = bus.notice_budget.allow(decision.sender or key_sender(msg.key), time.monotonic())
    src = Source(msg.topic, msg.partition, msg.offset, msg.key, now, bus.processor_headers)
    return await bus.apply(envelope_outputs(decision, raw, src, bus.notices, notify=notify), msg.partition)
