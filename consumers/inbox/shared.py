"""Several org codes' inboxes on one consumer, one receipt producer and one offsets client.

The codes of one process that reach the cluster under the same TLS login (a node login granted
their inbox topics, or the operator's) share the Kafka clients: their inbox topics are assigned to
one consumer (no group join per code), the 01 and 02 receipts go through one producer, and each
code's position is fetched from and committed to its own group ``docbus-inbox-<code>``
(consumers/inbox/offsets.py), exactly where a process of its own would find it. What every record
goes through is each code's :meth:`InboxClient.handle`, unchanged: re-verification of every
signature, the bus's routing proof, the store, the receipt.

The records of a batch are handled in order within a partition (a recall after its directive),
one code's partitions one after another (its store and blob reader serve one record at a time) and
the codes side by side, so the receipts of many inboxes travel in the same produce requests; a
partition's position is committed once its records' outputs are stored and acknowledged. A broker
outage ends the round; the next one starts from the committed positions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from consumers.inbox.client import InboxClient, InboxEvent
from consumers.inbox.offsets import GroupOffsets
from consumers.outage import TRANSIENT, backoff, stop_quietly
from producers.failover import CLIENT_OPTIONS, long_running_consumer
from producers.publisher import Publisher, PublishError
from producers.reader import ReadError
from schemas.connection import KafkaConnection

__all__ = ["SharedInboxes"]

logger = logging.getLogger(__name__)

_RETRIED: tuple[type[BaseException], ...] = (*TRANSIENT, PublishError, ReadError)
_TOPIC_LOOK_S = 10.0  # --follow: how often inbox topics not there yet are looked for again
_POLL_RECORDS = 500
# --once: the wait of one poll before the positions are compared with the ends, and of the broker on
# a fetch (stopping the consumer waits for the fetch in flight: 500 ms by default)
_ONCE_POLL_MS = 100
_OUTAGE = "inboxes of %d codes: %r; retrying with backoff until the broker is back"


class _TopicsAppeared(Exception):
    """A served code's inbox topic was created meanwhile: a new round assigns it."""


class SharedInboxes:
    """``clients``: every one reaches the cluster as ``kafka`` and holds ``publisher``."""

    def __init__(self, clients: Sequence[InboxClient], kafka: KafkaConnection, publisher: Publisher) -> None:
        self.clients = {c.topic: c for c in clients}
        self.kafka, self.publisher = kafka, publisher
        self.handled = {c.org: 0 for c in clients}
        self._offsets = GroupOffsets(kafka, client_id="docbus-inbox", options=CLIENT_OPTIONS)
        self._failures = 0
        self._warned: set[str] = set()

    async def run(
        self,
        *,
        once: bool = False,
        on_event: Callable[[str, InboxEvent], None] | None = None,
        idle_ms: int = 1000,
        refresh: Callable[[], object] | None = None,
    ) -> dict[str, int]:
        """Consume every code's inbox; ``once``: until each is caught up. Records handled per code."""
        try:
            while True:
                try:
                    await self._round(once, on_event, idle_ms, refresh)
                    return dict(self.handled)
                except _TopicsAppeared:
                    continue
                except CommitFailedError:
                    raise  # a code's group has live members: another process serves it; not an outage
                except _RETRIED as exc:
                    self._failures += 1
                    if self._failures == 1:
                        logger.error(_OUTAGE, len(self.clients), exc)
                    await asyncio.sleep(backoff(self._failures))
        finally:
            await stop_quietly(self._offsets.stop, "inbox offsets client")
            await stop_quietly(self.publisher.stop, "inbox publisher")
            for client in self.clients.values():
                await stop_quietly(client.blobs.stop, "inbox blob reader")

    async def _round(
        self,
        once: bool,
        on_event: Callable[[str, InboxEvent], None] | None,
        idle_ms: int,
        refresh: Callable[[], object] | None,
    ) -> None:
        consumer = long_running_consumer(
            self.kafka, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", max_poll_records=_POLL_RECORDS,
            fetch_max_wait_ms=_ONCE_POLL_MS if once else 500,
        )  # fmt: skip
        try:
            await consumer.start()
            await self._offsets.start()
            await self.publisher.start()
            parts, missing = await self._assign(consumer, once)
            if self._failures:
                logger.warning("inboxes: broker reachable again after %d failed attempt(s)", self._failures)
                self._failures = 0
            looked = time.monotonic()
            while True:
                if once and await _caught_up(consumer, list(parts)):
                    return  # before every poll: no idle wait at the end
                batches = await consumer.getmany(timeout_ms=min(idle_ms, _ONCE_POLL_MS) if once else idle_ms)
                if refresh is not None:
                    refresh()  # e.g. TrustFiles.refresh: a CRL published meanwhile applies now
                if batches:
                    await self._handle(batches, parts, on_event)
                elif missing and time.monotonic() - looked > _TOPIC_LOOK_S:
                    looked = time.monotonic()
                    if await self._appeared(missing):
                        raise _TopicsAppeared
        finally:
            await stop_quietly(consumer.stop, "inbox consumer")

    async def _assign(
        self, consumer: AIOKafkaConsumer, once: bool
    ) -> tuple[dict[TopicPartition, InboxClient], list[str]]:
        """Every served code's inbox partitions, each at its group's committed position (the
        earliest offset when it has none); the topics not there yet."""
        found = await self._offsets.partitions(self.clients)
        parts: dict[TopicPartition, InboxClient] = {}
        missing: list[str] = []
        for topic, client in self.clients.items():
            if topic not in found:
                missing.append(topic)
                if topic not in self._warned:
                    self._warned.add(topic)
                    what = "nothing to receive" if once else "waiting for it"
                    logger.warning("inbox %s: no topic %s: %s", client.org, topic, what)
                continue
            parts.update({TopicPartition(topic, n): client for n in found[topic]})
        consumer.assign(list(parts))
        fetched = (
            self._offsets.fetch(c.group, [tp for tp, o in parts.items() if o is c])
            for c in self.clients.values()
        )
        committed = await asyncio.gather(*fetched)
        for offsets in committed:
            for tp, offset in offsets.items():
                consumer.seek(tp, offset)
        return parts, missing

    async def _appeared(self, missing: list[str]) -> bool:
        return bool(await self._offsets.partitions(missing))

    async def _handle(
        self,
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        parts: dict[TopicPartition, InboxClient],
        on_event: Callable[[str, InboxEvent], None] | None,
    ) -> None:
        """The codes side by side, each code's partitions one after another and each partition's
        records in order (a code's store and blob reader serve one record at a time); then the
        position of every partition whose records were all handled, each to its code's group.
        The first failure is raised after that (the others' work is kept)."""
        by_code: dict[str, list[TopicPartition]] = {}
        for tp in batches:
            by_code.setdefault(parts[tp].org, []).append(tp)
        done: dict[str, dict[TopicPartition, int]] = {}
        outcomes = await asyncio.gather(
            *(self._code(parts, tps, batches, on_event, done) for tps in by_code.values()),
            return_exceptions=True,
        )
        await asyncio.gather(*(self._offsets.commit(group, offsets) for group, offsets in done.items()))
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _code(
        self,
        parts: dict[TopicPartition, InboxClient],
        tps: list[TopicPartition],
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        on_event: Callable[[str, InboxEvent], None] | None,
        done: dict[str, dict[TopicPartition, int]],
    ) -> None:
        """One code's partitions of the batch; ``done`` gets each partition once all of it is handled."""
        for tp in tps:
            client = parts[tp]
            for record in batches[tp]:
                arrived = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                event = await client.handle(record.value or b"", record.headers, arrived)
                self.handled[client.org] += 1
                if on_event is not None:
                    on_event(client.org, event)
            done.setdefault(client.group, {})[tp] = batches[tp][-1].offset + 1


async def _caught_up(consumer: AIOKafkaConsumer, parts: list[TopicPartition]) -> bool:
    if not parts:
        return True
    ends = await consumer.end_offsets(parts)
    for tp in parts:
        if await consumer.position(tp) < ends[tp]:
            return False
    return True
