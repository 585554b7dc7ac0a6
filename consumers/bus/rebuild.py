"""A bus upgraded in place does not start with an empty receipt lifecycle silently.

At start (``Bus.ready``), when the ``lifecycle`` table's changelog holds nothing while the
``routed`` table's does — a bus that ran before the lifecycle existed, or a changelog lost — the
table is recomputed from ``docbus.status`` (consumers/bus/decide/rebuild.py) and written with its
changelog records, each to the partition of its document's receipts (the record key is the
document's sender, schemas.receipt.receipt_record_key), as the receipts agent would. Recalls the
``recalls`` table lacks are added the same way. Then the agents decide as if the bus had always
kept it. Several workers starting at once may each rebuild: they write the same values.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from typing import TYPE_CHECKING

from aiokafka.partitioner import DefaultPartitioner

from consumers.bus.decide.rebuild import rebuild_lifecycle
from producers.reader import end_offsets, records_to_end
from schemas.topics import RECEIPTS_TOPIC, STATUS_TOPIC

if TYPE_CHECKING:
    from consumers.bus.app import Bus

__all__ = ["rebuild_lifecycle_if_empty"]

logger = logging.getLogger(__name__)


async def _holds_records(bus: Bus, topic: str) -> bool:
    ends = await end_offsets(bus.kafka, [topic])
    return any(offset > 0 for offset in ends.values())


async def rebuild_lifecycle_if_empty(bus: Bus) -> int:
    """Rebuild the lifecycle (and missing recalls) from docbus.status when it is empty but the bus
    has routed documents before; returns the entries written (0: nothing to do)."""
    lifecycle = bus.lifecycle.changelog_topic.get_topic_name()
    routed = bus.routed.changelog_topic.get_topic_name()
    if await _holds_records(bus, lifecycle) or not await _holds_records(bus, routed):
        return 0
    logger.warning("the lifecycle table is empty but documents were routed: rebuilding it from %s",
                   STATUS_TOPIC)  # fmt: skip
    async with aclosing(records_to_end(bus.kafka, STATUS_TOPIC)) as records:
        rebuilt = rebuild_lifecycle([(r.key, r.value) async for r in records])
    parts = sorted(tp.partition for tp in await end_offsets(bus.kafka, [RECEIPTS_TOPIC]))
    partition_of = DefaultPartitioner()
    futures = []
    for key, (sender, state) in rebuilt.lifecycle.items():
        partition = partition_of(sender.encode(), parts, parts)
        futures += await bus.store(bus.lifecycle, partition, key, state)
    for key, (sender, receipt_id) in rebuilt.recalls.items():
        if bus.recalls.get(key) is None:
            partition = partition_of(sender.encode(), parts, parts)
            futures += await bus.store(bus.recalls, partition, key, receipt_id)
    await asyncio.gather(*futures)
    logger.warning("lifecycle rebuilt: %d recipient states, %d recalls", len(rebuilt.lifecycle),
                   len(rebuilt.recalls))  # fmt: skip
    return len(rebuilt.lifecycle) + len(rebuilt.recalls)
