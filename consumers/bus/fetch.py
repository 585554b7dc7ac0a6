"""faust's consumer with fair polls: at most ``per_partition`` records of each partition a poll.

faust delivers every record of a poll to the agents' channel queues, one per turn of the event
loop the decisions also run on, before it polls again (faust.transport.consumer.Consumer.
_drain_messages). Its aiokafka thread takes the poll with no bound (``broker_max_poll_records``
unset): everything aiokafka has fetched, a flooded partition's whole fetch of up to 2 MiB (about
9,000 junk records) included. Mail fetched for another partition meanwhile waits for the next
poll, behind all of them (docs/PERFORMANCE.md). ``broker_max_poll_records`` alone does not help:
aiokafka fills a bounded poll from the partition it fetched first and stops there, so the flooded
partition would fill every poll until it is drained.

Here a poll takes at most ``per_partition`` records of each partition that has some, through
aiokafka's public ``getmany(tp, timeout_ms=0, max_records=...)``; what is left of a fetch stays in
aiokafka's buffer for the next poll (a partition is fetched again once its buffer is empty), so no
extra broker round trip is made. A poll is then at most ``per_partition`` records of each
partition, which faust delivers round robin across them; mail fetched meanwhile comes in the next
one. Records come in the order aiokafka fetched them within each partition, and each is delivered
once, so faust's tracking of pending records, its acks and the bus's commits (Bus.commit) see the
same records as before, only in smaller polls. (The public call also raises what aiokafka's group
coordinator holds as unrecoverable, an authorization failure say, which faust's own fetch through
the fetcher's private API never read: it now surfaces in faust's fetch loop.)

Two costs of faust's own consumer are cut here as well (docs/PERFORMANCE.md, "Junk flood"):

- **Parked fetches.** aiokafka keeps one fetch in flight per broker, for the partitions with
  nothing buffered; a partition whose records were fetched is asked again only once they are
  taken. faust builds its consumer with ``fetch_max_wait_ms=1500``: a fetch for partitions
  that are idle just then waits up to 1.5 s on the broker, and mail that comes meanwhile on a
  partition that was busy when the fetch was sent waits for it. Here the broker holds a fetch
  ``fetch_wait`` seconds at most (BusConfig.fetch_wait, 50 ms): an idle bus asks a broker about
  20 times a second.
- **Four tasks a record.** faust's fetch loop delivers each record through ``Service.wait_first
  (callback(message), self.suspend_flow.wait())``: a task for the delivery, one for the event
  and two for the service's own events, then ``asyncio.wait`` and their cancellation, at least
  two turns of the event loop per record. The decisions run on that loop and yield it every few
  milliseconds (consumers/bus/agents/pace.py), so during a flood records came into the channel
  queue a handful per batch and polls were half a second apart. When the flow is running and no
  channel queue is under pressure (faust's ``on_buffer_full``, at 80 % of a queue), faust's
  delivery puts the record into a queue with room and returns; the only wait left in it is for
  faust's own producer buffer to ebb, which its own path waits for too. It is then awaited in
  place, in the same order, with the same effects; otherwise faust's own path, able to give up
  when the flow stops (a rebalance), is taken.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from mode.services import WaitResults

from producers.failover import with_failover

__all__ = ["FairConsumerThread", "fair_consumer"]

RecordMap = dict[TopicPartition, list[Any]]


class FairConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    #: records of one partition a poll takes at most (BusConfig.fetch_per_partition)
    per_partition: int = 200
    #: seconds the broker holds a fetch for records at most (BusConfig.fetch_wait)
    fetch_wait: float = 0.05
    #: an error one partition's take raised after others' records were taken: raised by the next
    #: poll, once those records are delivered (as aiokafka's own multi-partition take does)
    _deferred: Exception | None = None

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = with_failover(super()._create_worker_consumer(transport))  # producers/failover.py
        # faust passes fetch_max_wait_ms=1500 and has no setting for it; aiokafka reads the
        # attribute when the consumer starts, to build its fetcher (tests/bus/fair_consumer_checks.py)
        consumer._fetch_max_wait_ms = round(self.fetch_wait * 1000)
        return consumer

    async def _fetch_records(
        self,
        consumer: aiokafka.AIOKafkaConsumer,
        active_partitions: set[TP] | None,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> RecordMap:
        if self._deferred is not None:
            deferred, self._deferred = self._deferred, None
            raise deferred
        if not self.consumer.flow_active:  # as faust's own: no records while a rebalance stops the flow
            return {}
        partitions = [
            TopicPartition(tp.topic, tp.partition)
            for tp in (consumer.assignment() if active_partitions is None else active_partitions)
        ]
        records: RecordMap = {}
        room = max_records  # faust's broker_max_poll_records, if set, still bounds the whole poll
        for tp in partitions:
            if room is not None and room <= 0:
                break
            try:
                took = await consumer.getmany(tp, timeout_ms=0, max_records=_bound(self.per_partition, room))
            except Exception as exc:
                if not records:
                    raise
                # what the earlier partitions gave has left aiokafka's buffer: deliver it first
                self._deferred = exc
                return records
            for part, got in took.items():
                records[part] = got
                room = None if room is None else room - len(got)
        if records or not timeout or not partitions:
            return records
        # nothing fetched yet: wait for the first records of any partition, as many as one may bring
        bound = _bound(self.per_partition, max_records)
        waited: RecordMap = await consumer.getmany(
            *partitions, timeout_ms=int(timeout * 1000), max_records=bound
        )
        return waited


def _bound(per_partition: int, room: int | None) -> int:
    return per_partition if room is None else min(per_partition, room)


def _is_wait_of(coro: Any, event: Any) -> bool:
    """``coro`` is ``event.wait()``, not yet started."""
    frame = getattr(coro, "cr_frame", None)
    if frame is None or getattr(coro, "cr_code", None) is not type(event).wait.__code__:
        return False
    return frame.f_locals.get("self") is event


def fair_consumer(per_partition: int, fetch_wait: float) -> type[faust_aiokafka.Consumer]:
    """faust's aiokafka consumer whose thread polls fairly (:class:`FairConsumerThread`) and whose
    fetch loop delivers a record in place when it cannot wait, for ``app.transport.Consumer``."""

    class FairConsumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
            thread = FairConsumerThread(self, loop=self.loop, beacon=self.beacon)
            thread.per_partition, thread.fetch_wait = per_partition, fetch_wait
            return thread

        async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
            # faust's fetch loop, per record: wait_first(callback(message), suspend_flow.wait())
            if (
                len(coros) == 2
                and timeout is None
                and _is_wait_of(coros[1], self.suspend_flow)
                and not self.suspend_flow.is_set()
                and not self._buffered_partitions
            ):
                delivery, suspended = coros
                suspended.close()  # never started: nothing to cancel
                return WaitResults([delivery], [await delivery], False)
            return await super().wait_first(*coros, timeout=timeout)

    return FairConsumer
