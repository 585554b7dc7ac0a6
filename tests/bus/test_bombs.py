"""Compression bombs on the topics every org writes: a processor neither runs out of memory nor
stalls, the bombs are quarantined with their reason, and good traffic flows on (producers/fetch_guard.py).

Measured without the guard (aiokafka 0.14 decoding whole): the same 1 GiB gzip batch took a
reader to 2 GB resident, a 1024 x 1 MiB one to 3 GB, and a 20-byte zstd record raised at every
fetch for good (no zstd codec installed): the agent stalled."""

from __future__ import annotations

import asyncio
import re
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from producers.blob_reader import BlobReader
from producers.fetch_guard import MAX_DECODED_BYTES
from schemas.blob import BlobRef, ChunkRef
from schemas.connection import KafkaConnection
from schemas.errors import ContractError
from schemas.quarantine import QuarantineRecord
from schemas.reasons import Reason
from schemas.topics import BLOBS_TOPIC, INGRESS_TOPIC, QUARANTINE_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.bus.bombs import gzip_bomb, produce_batch, zstd_batch
from tests.bus.conftest import start_bus
from tests.bus.kafka import BusProcess, end_offsets, produce, quarantined, read_until
from tests.bus.world import World
from tests.node.kafka_util import make_topics

pytestmark = pytest.mark.broker

Records = list[ConsumerRecord[bytes, bytes]]
GIB = 1024 * 1024 * 1024


def peak_resident(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def bomb_bus(kafka_conn: KafkaConnection, published: World, tmp_path: Path) -> Iterator[BusProcess]:
    """A processor of its own, so its peak memory is the bombs' doing."""
    bus = asyncio.run(start_bus(kafka_conn, published, tmp_path))
    yield bus
    bus.stop()


async def test_gzip_and_zstd_bombs_are_refused_in_bounded_memory_and_good_traffic_flows(
    kafka_conn: KafkaConnection, published: World, bomb_bus: BusProcess
) -> None:
    h01, g03 = published.sender("H01"), published.sender("G03")
    start = await end_offsets(kafka_conn, [QUARANTINE_TOPIC, inbox_topic("H02"), inbox_topic("H05")])
    warm_env, warm = h01.envelope(("H02",))
    await produce(kafka_conn, INGRESS_TOPIC, [(b"H01", warm)])

    def has(records: Records, topic: str, message_id: str) -> bool:
        return any(r.topic == topic and r.key == message_id.encode() for r in records)

    records = await read_until(kafka_conn, start, lambda rs: has(rs, inbox_topic("H02"), warm_env.message_id),
                               bus=bomb_bus)  # fmt: skip
    assert has(records, inbox_topic("H02"), warm_env.message_id), bomb_bus.log.read_text()[-3000:]
    assert bomb_bus.proc is not None
    before = peak_resident(bomb_bus.proc.pid)

    # each decodes to 1 GiB (one record of 1 GiB; 1024 records of 1 MiB) and is about 1 MB as sent:
    # under the topics' 2 MiB max.message.bytes, so the broker stores them
    bombs = [gzip_bomb(1, 1024), gzip_bomb(1024, 1)]
    assert all(len(b) < 2 * 1024 * 1024 for b in bombs)
    for bomb in bombs:
        assert await produce_batch(kafka_conn, INGRESS_TOPIC, 0, bomb) == 0
    assert await produce_batch(kafka_conn, INGRESS_TOPIC, 1, zstd_batch(b"\xc3\x01 a tiny zstd record")) == 0
    assert await produce_batch(kafka_conn, RECEIPTS_TOPIC, 0, gzip_bomb(1, 1024)) == 0
    good_env, good = g03.envelope(("H05",))
    await produce(kafka_conn, INGRESS_TOPIC, [(b"G03", good)])

    def refused(records: Records) -> list[QuarantineRecord]:
        return [q for q in quarantined(records, bomb_bus.app_id) if "batch" in q.detail]

    def done(records: Records) -> bool:
        return len(refused(records)) >= 4 and has(records, inbox_topic("H05"), good_env.message_id)

    records = await read_until(kafka_conn, start, done, bus=bomb_bus)
    assert done(records), bomb_bus.log.read_text()[-3000:]
    assert bomb_bus.alive()
    peak = peak_resident(bomb_bus.proc.pid)
    print(f"processor peak resident: {before >> 20} MiB before the bombs, {peak >> 20} MiB after")
    # a bomb decoded whole would add a GiB (twice that in aiokafka's copies); the guard holds at most
    # one fetch's budget per partition
    assert peak - before < 256 * 1024 * 1024, f"peak {peak >> 20} MiB, before {before >> 20} MiB"
    assert peak < GIB
    by_topic = sorted((q.topic, q.reason.value) for q in refused(records))
    assert by_topic == [
        (INGRESS_TOPIC, "MALFORMED"), (INGRESS_TOPIC, "TOO_LARGE"), (INGRESS_TOPIC, "TOO_LARGE"),
        (RECEIPTS_TOPIC, "TOO_LARGE"),
    ]  # fmt: skip
    for q in refused(records):
        assert q.raw == b"" and q.message_id is None  # nothing of a bomb is held, nor kept
        if q.reason.value == "TOO_LARGE":
            assert f"decodes to more than {MAX_DECODED_BYTES} bytes" in q.detail
        else:
            assert "zstd batch refused unread" in q.detail
    # one refusal per batch, each naming the batch's offsets: the 1024-record bomb is refused whole
    spans = []
    for q in refused(records):
        found = re.search(r"offsets (\d+)\.\.(\d+)", q.detail)
        assert found is not None and int(found[2]) == q.offset  # read at the batch's last offset
        spans.append(int(found[2]) - int(found[1]) + 1)
    assert sorted(spans) == [1, 1, 1, 1024]


async def test_a_recipient_refuses_a_bomb_named_as_a_chunk(kafka_conn: KafkaConnection) -> None:
    """A sender signs an envelope naming its own bomb as a chunk: the recipient's blob reader (every
    node) decodes at most one fetch's budget and refuses the chunk."""
    await make_topics(kafka_conn, BLOBS_TOPIC)
    before = (await end_offsets(kafka_conn, [BLOBS_TOPIC]))[TopicPartition(BLOBS_TOPIC, 0)]
    assert await produce_batch(kafka_conn, BLOBS_TOPIC, 0, gzip_bomb(1, 1024)) == 0
    ref = BlobRef(chunk_size=1024 * 1024, partition=0, chunks=[ChunkRef(sha256=bytes(32), offset=before)])
    tracemalloc.start()
    try:
        async with BlobReader(kafka_conn, wait=20.0) as reader:
            with pytest.raises(ContractError) as refused:
                async for _ in reader.records(ref):
                    pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"blob reader: {peak >> 20} MiB allocated at the peak")
    assert refused.value.reason is Reason.BLOB_MISMATCH and "decodes to more than" in refused.value.detail
    assert peak < 64 * 1024 * 1024, f"{peak >> 20} MiB allocated at the peak"
