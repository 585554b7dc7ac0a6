"""The bus writer through a failed write (consumers/bus/writer.py), on a stand-in producer so the
failure lands on a chosen record: the acknowledgements an agent awaits resolve only once the
record is stored, everything from the first unacknowledged record on is written again in order
on a fresh producer, and records handed over meanwhile follow them. The real outages (broker
killed, paused, whole cluster restarted) are tests/faults/test_faults.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, LeaderNotAvailableError, UnknownTopicOrPartitionError

from consumers.bus import writer as writer_module
from consumers.bus.outputs import OutRecord
from consumers.bus.writer import RecordWriter
from schemas.connection import KafkaConnection


class _Producer:
    """Stores what it is sent in ``log``; ``fail`` names values whose write fails (once each,
    on this producer), ``refuse`` values whose send() raises, ``hold`` values left unanswered."""

    def __init__(self, log: list[tuple[int, bytes]], number: int, plan: dict[str, set[bytes]]) -> None:
        self.log, self.number, self.plan = log, number, plan
        self.held: list[asyncio.Future[Any]] = []

    async def start(self) -> None:
        if self.number in self.plan.get("down", set()):
            raise KafkaConnectionError("Unable to bootstrap")

    async def stop(self) -> None:
        for fut in self.held:
            if not fut.done():
                fut.set_exception(KafkaConnectionError("closed"))

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[Any]:
        if value in self.plan.get("refuse", set()) and self.number == 0:
            raise UnknownTopicOrPartitionError()
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if value in self.plan.get("fail", set()) and self.number == 0:
            fut.set_exception(LeaderNotAvailableError())
        elif value in self.plan.get("hold", set()) and self.number == 0:
            self.held.append(fut)
        else:
            self.log.append((self.number, value))
            fut.set_result((self.number, value))
        return fut


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[int, bytes]], dict[str, set[bytes]]]:
    log: list[tuple[int, bytes]] = []
    plan: dict[str, set[bytes]] = {}
    count = iter(range(100))
    monkeypatch.setattr(writer_module, "producer", lambda _: _Producer(log, next(count), plan))
    monkeypatch.setattr(writer_module, "backoff", lambda _: 0.0)
    return log, plan


def _records(*values: bytes) -> list[OutRecord]:
    return [OutRecord("t", b"k", v) for v in values]


async def test_a_failed_write_is_written_again_with_every_later_record_in_order(
    made: tuple[list[tuple[int, bytes]], dict[str, set[bytes]]],
) -> None:
    log, plan = made
    plan["fail"] = {b"2"}
    w = RecordWriter(KafkaConnection(bootstrap="unused:1"))
    acks = await w.write(_records(b"1", b"2", b"3"))
    assert await asyncio.gather(*acks) == [(0, b"1"), (1, b"2"), (0, b"3")]
    # stored by the first producer: 1 and 3; then, from the first failure on, 2 and 3 again, in order
    assert log == [(0, b"1"), (0, b"3"), (1, b"2"), (1, b"3")]
    assert w.rewritten == 2
    await w.stop()


async def test_records_handed_over_during_the_outage_follow_the_rewritten_ones(
    made: tuple[list[tuple[int, bytes]], dict[str, set[bytes]]],
) -> None:
    log, plan = made
    plan["refuse"], plan["down"] = {b"1"}, {1, 2}  # send() raises; two fresh producers cannot start
    w = RecordWriter(KafkaConnection(bootstrap="unused:1"))
    first = await w.write(_records(b"1", b"2"))
    later = await w.write(_records(b"3"))
    assert not any(f.done() for f in [*first, *later])  # nothing acknowledged before it is stored
    assert await asyncio.gather(*first, *later) == [(3, b"1"), (3, b"2"), (3, b"3")]
    assert log == [(3, b"1"), (3, b"2"), (3, b"3")]
    await w.stop()


async def test_an_unanswered_write_keeps_its_acknowledgement_open_until_stored(
    made: tuple[list[tuple[int, bytes]], dict[str, set[bytes]]],
) -> None:
    log, plan = made
    plan["hold"] = {b"1"}
    w = RecordWriter(KafkaConnection(bootstrap="unused:1"))
    acks = await w.write(_records(b"1", b"2"))
    await asyncio.sleep(0)
    assert not acks[0].done() and acks[1].done()
    await w.write(_records(b"3"))  # the producer that holds 1 is closed by a failure elsewhere
    assert w._producer is not None
    await w._producer.stop()
    assert await asyncio.gather(*acks) == [(1, b"1"), (0, b"2")]
    assert log[-3:] == [(1, b"1"), (1, b"2"), (1, b"3")]  # 1 again, and the later ones in order
    await w.stop()
