"""Re-reads source records that the faust consumer skipped.

faust-streaming 0.15 can drop records that were fetched while a restarted worker recovered its
tables, and then treats the jump in offsets as a gap it may commit over (``Consumer._add_gap``):
seen here as SIGKILL + restart losing a run of ingress records. Ingress and receipts are written
without transactions, so their offsets have no holes; an agent that sees one fetches the missing
records itself and processes them first, in order.

faust never saw those records, so its commit stops at the hole for good (``Consumer._new_offset``
returns nothing while the lowest acked offset is more than one past the committed one): the
group's committed offset froze and every restart re-read everything since. ``on_filled`` tells
the app the offsets are consumed (consumers/bus/app.py hands them to faust as a gap).

The other way round, faust can hand an agent a record it already handed it, in the same
assignment. After a rebalance its recovery resumes the assigned partitions, the agent decides
what comes, and only then does faust seek them to the committed offsets it read a moment before
(``Recovery.on_recovery_completed``, ``Consumer.perform_seek``): what was decided in between comes
again (receipts 3209..3217 on the worker that had just joined, ingress 4119..4178 on the one that
took a killed worker's partition). And its fetch loop passes an offset equal to the last one read
(``Consumer._drain_messages``: ``offset >= r_offset``): the last record of a burst was seen handed
again seconds later, with no rebalance. Each came out as a second forward of the same message id.
A record below the next offset of its partition — the group's committed offset before the first
record of an assignment, then one past each record decided — is therefore :meth:`decided`
already, by this worker in this assignment or by whoever committed past it (outputs are stored
before an offset is committed), and is not decided again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from consumers.bus import clients
from consumers.outage import retried, stop_quietly
from schemas.connection import KafkaConnection

__all__ = ["GapFiller"]

logger = logging.getLogger(__name__)

Offsets = dict[int, int | None]  # partition -> the group's committed offset (None: it has none)


class GapFiller:
    """Tracks the next expected offset of each partition of ``topic`` for consumer ``group``."""

    def __init__(
        self,
        kafka: KafkaConnection,
        group: str,
        topic: str,
        on_filled: Callable[[str, int, int, int], Awaitable[None]] | None = None,
    ) -> None:
        self.kafka = kafka
        self.on_filled = on_filled  # (topic, partition, first, last) offsets re-read
        self.group = group
        self.topic = topic
        self.filled = 0  # records re-read so far
        self._next: dict[int, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        #: the committed offsets of an assignment's partitions, asked for when it was made
        self._ahead: tuple[frozenset[int], asyncio.Future[Offsets]] | None = None

    def reset(self, assigned: Iterable[tuple[str, int]] = ()) -> None:
        """Forget positions: partitions were reassigned, and faust seeks them to the committed
        offsets. Those of this topic's ``assigned`` (topic, partition) pairs are asked for at once,
        in one request, while the group's coordinator has just answered the join: a partition whose
        first record comes later, during a broker outage (a quiet sender's, or one whose first
        record meets a paused coordinator), no longer holds the agent — every partition's records —
        until the coordinator is back (seen: 21 s of a 30 s SIGSTOP, docs/PERFORMANCE.md)."""
        self._next.clear()
        self._ahead = None
        wanted = frozenset(partition for topic, partition in assigned if topic == self.topic)
        if wanted:
            asking = asyncio.ensure_future(self._offsets(wanted))
            asking.add_done_callback(_retrieved)  # a failure is met by whoever needs the offset
            self._ahead = (wanted, asking)

    async def decided(self, partition: int, offset: int) -> bool:
        """The record at ``offset`` was decided already (it is below its partition's next offset):
        the consumer handed it again, and it must not be decided twice."""
        expected = await self._expected(partition)
        return expected is not None and offset < expected

    async def missing(self, partition: int, offset: int) -> list[ConsumerRecord[bytes, bytes]]:
        """The records before ``offset`` that should have come first; usually none."""
        expected = await self._expected(partition)
        self._next[partition] = max(offset + 1, self._next.get(partition, 0))
        if expected is None or offset <= expected:
            return []
        first = expected
        records = await retried(f"{self.topic}[{partition}] re-read",
                                lambda: self._read(partition, first, offset), logger)  # fmt: skip
        self.filled += len(records)
        if self.on_filled is not None:
            await self.on_filled(self.topic, partition, expected, offset - 1)
        logger.warning("%s[%d]: offsets %d..%d skipped by the consumer; re-read %d record(s)",
                       self.topic, partition, expected, offset - 1, len(records))  # fmt: skip
        return records

    async def _expected(self, partition: int) -> int | None:
        """The next offset of ``partition``: one past the last record decided in this assignment, or
        before the first one the group's committed offset (None: the group has none)."""
        expected = self._next.get(partition)
        if expected is None:  # a broker outage is waited out here, not raised into the agent
            expected = await retried(f"{self.topic}[{partition}] committed offset",
                                     lambda: self._committed(partition), logger)  # fmt: skip
            if expected is not None:
                self._next[partition] = max(expected, self._next.get(partition, 0))
        return expected

    async def _committed(self, partition: int) -> int | None:
        """The offset asked for with the assignment; if that request failed (an outage then), or
        the partition was not in it, asked for alone."""
        ahead = self._ahead
        if ahead is not None and partition in ahead[0]:
            try:
                return (await asyncio.shield(ahead[1]))[partition]
            except Exception:
                if self._ahead is ahead:
                    self._ahead = None
        return (await self._offsets({partition}))[partition]

    async def _offsets(self, partitions: Collection[int]) -> Offsets:
        tps = [TopicPartition(self.topic, partition) for partition in sorted(partitions)]
        client = clients.admin(self.kafka)
        try:
            await client.start()
            offsets = await client.list_consumer_group_offsets(self.group, partitions=tps)
        finally:
            await stop_quietly(client.close, "gap filler admin")
        found = {
            tp.partition: meta.offset for tp, meta in offsets.items() if meta is not None and meta.offset >= 0
        }
        return {partition: found.get(partition) for partition in partitions}

    async def _read(self, partition: int, start: int, end: int) -> list[ConsumerRecord[bytes, bytes]]:
        if self._consumer is None:
            started = clients.consumer(self.kafka)
            try:
                await started.start()
            except BaseException:
                await stop_quietly(started.stop, "gap filler consumer")
                raise
            self._consumer = started
        consumer, tp = self._consumer, TopicPartition(self.topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        out: list[ConsumerRecord[bytes, bytes]] = []
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            out += [r for r in batch.get(tp, []) if start <= r.offset < end]
        return out

    async def stop(self) -> None:
        if self._ahead is not None:
            self._ahead[1].cancel()
            self._ahead = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


def _retrieved(asking: asyncio.Future[Offsets]) -> None:
    """The assignment's request ended: its error, if any, counts as seen (``_committed`` asks
    again), not as "exception never retrieved"."""
    if not asking.cancelled():
        asking.exception()
