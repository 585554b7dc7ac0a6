"""The bus writer (consumers/bus/writer.py) batching a partition's records and through a failed
write, on a stand-in producer (real aiokafka batch builders) so the failure lands on a chosen
batch: a partition has one batch on its way and what is handed over meanwhile leaves in the next
one; the acknowledgements an agent awaits resolve only once the batch is stored; every batch not
acknowledged is written again, each partition's in order, on a fresh producer, and records handed
over meanwhile follow them. The real outages (broker killed, paused, whole cluster restarted) are
tests/faults/test_faults.py."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, LeaderNotAvailableError, UnknownTopicOrPartitionError
from aiokafka.producer.message_accumulator import BatchBuilder

from consumers.bus import writer as writer_module
from consumers.bus.clients import MAX_BATCH, partition_of
from consumers.bus.outputs import OutRecord
from consumers.bus.writer import RecordWriter, record_bound
from schemas.connection import KafkaConnection

Log = list[tuple[int, int, tuple[bytes, ...]]]  # (producer, partition, values of one batch)
Plan = dict[str, set[Any]]


class _Builder:
    """aiokafka's BatchBuilder, and the values it took."""

    def __init__(self) -> None:
        self.builder = BatchBuilder(MAX_BATCH, 0)
        self.values: list[bytes] = []

    def append(self, *, timestamp: int | None, key: bytes, value: bytes, headers: list[Any]) -> Any:
        added = self.builder.append(timestamp=timestamp, key=key, value=value, headers=headers)
        if added is not None:
            self.values.append(value)
        return added

    def close(self) -> None:
        self.builder.close()


class _Producer:
    """Stores the batches it is sent in ``log``. ``plan``: "down" producer numbers that cannot
    start, "unknown" those that cannot tell a topic's partitions; on the first producer, "refuse"
    values whose batch send_batch() raises for, "fail" values whose batch fails, "hold" values whose
    batch stays unanswered until :meth:`release`."""

    def __init__(self, log: Log, number: int, plan: Plan) -> None:
        self.log, self.number, self.plan = log, number, plan
        self.held: list[tuple[asyncio.Future[Any], int, tuple[bytes, ...]]] = []

    async def start(self) -> None:
        if self.number in self.plan.get("down", set()):
            raise KafkaConnectionError("Unable to bootstrap")

    async def stop(self) -> None:
        for fut, _, _ in self.held:
            if not fut.done():
                fut.set_exception(KafkaConnectionError("closed"))

    async def partitions_for(self, topic: str) -> set[int]:
        if self.number in self.plan.get("unknown", set()):
            raise UnknownTopicOrPartitionError()
        return {0, 1, 2}

    def create_batch(self) -> _Builder:
        return _Builder()

    async def send_batch(self, batch: _Builder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        values = tuple(batch.values)
        first = self.number == 0
        if first and self.plan.get("refuse", set()) & set(values):
            raise UnknownTopicOrPartitionError()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if first and self.plan.get("fail", set()) & set(values):
            fut.set_exception(LeaderNotAvailableError())
        elif first and self.plan.get("hold", set()) & set(values):
            self.held.append((fut, partition, values))
        else:
            self.log.append((self.number, partition, values))
            fut.set_result((self.number, partition, values))
        return fut

    def release(self) -> None:
        for fut, partition, values in self.held:
            self.log.append((self.number, partition, values))
            fut.set_result((self.number, partition, values))
        self.held.clear()


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> tuple[Log, Plan, list[_Producer]]:
    log: Log = []
    plan: Plan = {}
    producers: list[_Producer] = []

    def make(_: Any) -> _Producer:
        producers.append(_Producer(log, len(producers), plan))
        return producers[-1]

    monkeypatch.setattr(writer_module, "producer", make)
    monkeypatch.setattr(writer_module, "backoff", lambda _: 0.0)
    return log, plan, producers


def _records(*values: bytes, key: bytes = b"k") -> list[OutRecord]:
    return [OutRecord("t", key, v) for v in values]


async def test_records_handed_over_while_a_batch_is_on_its_way_leave_together_in_the_next(
    made: tuple[Log, Plan, list[_Producer]],
) -> None:
    log, plan, producers = made
    plan["hold"] = {b"1"}
    w = RecordWriter(KafkaConnection(bootstrap="unused:1"))
    first = await w.write(_records(b"1"), 0)
    second = await w.write(_records(b"2"), 0)
    third = await w.write(_records(b"3", b"4"), 0)
    other = await w.write(_records(b"5"), 1)  # another partition does not wait for partition 0
    await asyncio.gather(*other)
    assert second == third and not any(f.done() for f in [*first, *second])
    assert log == [(0, 1, (b"5",))]
    producers[0].release()
    await asyncio.gather(*first, *second)
    assert log == [(0, 1, (b"5",)), (0, 0, (b"1",)), (0, 0, (b"2", b"3", b"4"))]
    assert w.batches == 3 and w.written == 5
    await w.stop()


async def test_a_keyed_record_goes_to_the_partition_the_producer_would_choose(
    made: tuple[Log, Plan, list[_Producer]],
) -> None:
    log, _, _ = made
    w = RecordWriter(KafkaConnection(bootstrap="unused:1"))
    keys = [f"m{i}".encode() for i in range(12)]
    for key in keys:
        await asyncio.gather(*await w.write(_records(key, key=key)))
    assert sorted((values[0], part) for _, part, values in log) == sorted(
        (key, partition_of(key, [0, 1, 2], [0, 1, 2])) for key in keys
    )
    assert len({part for _, part, _ in log}) > 1
    await w.stop()


async def test_a_batch_never_outgrows_the_batch_size(made: tuple[Log, Plan, list[_Producer]]) -> None:
    log, plan, producers = made
    plan["hold"] = {b"0"}
    w = RecordWriter(KafkaConnection(bootstrap="unused:1"))
    acks = await w.write(_records(b"0"), 0)
    big = [os.urandom(150_000) for _ in range(7)]  # three fit a batch of 512 KiB, four do not
    acks += await w.write([OutRecord("t", b"k", v, (("h", b"x" * 100),)) for v in big], 0)
    producers[0].release()
    await asyncio.gather(*acks)
    assert [len(values) for _, _, values in log] == [1, 3, 3, 1]
    assert [v for _, _, values in log[1:] for v in values] == big
    await w.stop()


def test_the_record_bound_holds_for_aiokafkas_builder() -> None:
    """A builder takes every record while the bounds of its records fit the batch: the writer's
    assertion that a batch it closed fits can never fire."""
    for size in (0, 1, 127, 128, 16_383, 16_384, 100_000):
        builder = BatchBuilder(MAX_BATCH, 0)
        used = 61
        record = OutRecord("t", b"key-" * 5, os.urandom(size), (("ce_id", b"x" * 40), ("docbus", b"")))
        while used + record_bound(record) <= MAX_BATCH:
            headers = list(record.headers)
            assert (
                builder.append(timestamp=None, key=record.key, value=record.value, headers=headers)
                is not None
            )
            used += record_bound(record)


async def test_a_failed_batch_is_written_again_with_the_later_batches_of_its_partition_in_order(
    made: tuple[Log, Plan, list[_Producer]],
) -> None:
    log, plan, _ = made
    plan["fail"] = {b"1"}
    w = RecordWriter(KafkaConnection(bootstrap="unused:1"))
    stored = await w.write(_records(b"9"), 1)
    await asyncio.gather(*stored)
    acks = await w.write(_records(b"1", b"2"), 0)
    acks += await w.write(_records(b"3"), 0)  # waits behind the batch on its way
    results = await asyncio.gather(*acks)
    assert results == [(1, 0, (b"1", b"2")), (1, 0, (b"3",))]
    # stored by the first producer: partition 1's batch (not written again); partition 0's again, in order
    assert log == [(0, 1, (b"9",)), (1, 0, (b"1", b"2")), (1, 0, (b"3",))]
    assert w.rewritten == 3
    await w.stop()


async def test_records_handed_over_during_the_outage_follow_the_rewritten_ones(
    made: tuple[Log, Plan, list[_Producer]],
) -> None:
    log, plan, _ = made
    plan["refuse"], plan["down"] = {b"1"}, {1, 2}  # send_batch() raises; two fresh producers cannot start
    w = RecordWriter(KafkaConnection(bootstrap="unused:1"))
    first = await w.write(_records(b"1", b"2"), 0)
    later = await w.write(_records(b"3"), 0)
    assert not any(f.done() for f in [*first, *later])  # nothing acknowledged before it is stored
    await asyncio.gather(*first, *later)
    assert log == [(3, 0, (b"1", b"2")), (3, 0, (b"3",))]  # in order, on the fourth producer
    await w.stop()


async def test_records_of_a_topic_not_placed_yet_wait_for_the_recovery_to_place_them(
    made: tuple[Log, Plan, list[_Producer]],
) -> None:
    log, plan, _ = made
    plan["unknown"], plan["down"] = {0}, {1}  # the first producer cannot tell the partitions
    w = RecordWriter(KafkaConnection(bootstrap="unused:1"))
    keys = [f"m{i}".encode() for i in range(6)]
    acks = [a for key in keys for a in await w.write(_records(key, key=key))]
    assert len(acks) == len(keys) and not any(f.done() for f in acks)
    await asyncio.gather(*acks)
    assert {n for n, _, _ in log} == {2}  # placed and written by the producer that could tell
    placed = [(v, part) for _, part, values in log for v in values]
    assert sorted(placed) == sorted((key, partition_of(key, [0, 1, 2], [0, 1, 2])) for key in keys)
    assert len(placed) == len(keys)
    await w.stop()


async def test_an_unanswered_batch_keeps_its_acknowledgement_open_until_stored(
    made: tuple[Log, Plan, list[_Producer]],
) -> None:
    log, plan, producers = made
    plan["hold"] = {b"1"}
    w = RecordWriter(KafkaConnection(bootstrap="unused:1"))
    held = await w.write(_records(b"1"), 0)
    stored = await w.write(_records(b"2"), 1)
    await asyncio.gather(*stored)
    assert not any(f.done() for f in held)
    later = await w.write(_records(b"3"), 0)
    await producers[0].stop()  # the producer holding 1 is closed under it
    assert await asyncio.gather(*held, *later) == [(1, 0, (b"1",)), (1, 0, (b"3",))]
    assert log == [(0, 1, (b"2",)), (1, 0, (b"1",)), (1, 0, (b"3",))]  # 1 again, then the later one
    await w.stop()
