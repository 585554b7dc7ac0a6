"""A 200 MB attachment end to end, beside raw aiokafka produce+consume of the same bytes (same run).

Each role runs in its own process, as it does in production, and reports the growth of its
resident memory over the baseline it had once started and connected (peak sampled every 10 ms):

* sender: ``BlobUploader.upload`` (what ``docbus send`` runs for a large file: AES-256-GCM chunks);
* processor: ``check_attachment`` over ``BlobReader.records`` (what the bus runs before routing:
  the signed ciphertext digests, no key);
* recipient: ``receive_blob`` (what the inbox client runs: fetch, verify, decrypt, write, rename;
  the content key given, as the key wrap yields it once per document).

``large.mb_per_s`` = size / (upload + bus check + receive), the three stages one after another
as a document travels; ``large.raw_mb_per_s`` = size / (produce + consume) of the same bytes as
1 MiB records with the same producer settings (acks=all, idempotence) and no docbus code.

    python -m benchmarks.bench_large [--bootstrap HOST:PORT] [--mb 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from infra.topics import apply, load_specs
from schemas.connection import KafkaConnection
from schemas.payload import Payload
from schemas.topics import BLOBS_TOPIC

__all__ = ["run"]

_CHUNK = 1024 * 1024
_TARGET_RATIO = 0.5
_RSS_LIMIT_MB = 64.0


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _Peak:
    """The highest RSS seen after ``start`` (sampled in a thread: the event loop may be busy)."""

    def __init__(self) -> None:
        self.base = _rss_mb()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_mb())

    def growth(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(max(self.peak, _rss_mb()) - self.base, 1)


async def _sender(kafka: KafkaConnection, file: Path, state: Path) -> dict[str, Any]:
    from producers.blob_upload import BlobUploader
    from producers.publisher import Publisher

    async with Publisher(kafka) as pub:
        await pub.partition_count(BLOBS_TOPIC)
        peak = _Peak()
        start = time.perf_counter()
        uploader = BlobUploader(pub, state, chunk_size=_CHUNK)
        payload = await uploader.upload(file, "application/pdf")
        seconds = time.perf_counter() - start
    # the content key goes to the recipient as the send's key wrap would take it (ENVELOPE.md §7.4)
    keys = {k.hex(): v.hex() for k, v in uploader.content_keys.items()}
    (state / "payload.pickle").write_bytes(pickle.dumps({"payload": payload.model_dump(), "keys": keys}))
    return {"seconds": seconds, "rss_growth_mb": peak.growth()}


async def _processor(kafka: KafkaConnection, payload: Payload) -> dict[str, Any]:
    from consumers.bus.decide.attachments import check_attachment
    from producers.blob_reader import BlobReader

    async with BlobReader(kafka) as reader:
        peak = _Peak()
        start = time.perf_counter()
        assert payload.blob is not None
        await check_attachment(payload, reader.records(payload.blob))
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_growth_mb": peak.growth()}


async def _recipient(kafka: KafkaConnection, payload: Payload, store: Path) -> dict[str, Any]:
    from consumers.inbox.blobs import receive_blob
    from producers.blob_reader import BlobReader

    async with BlobReader(kafka) as reader:
        peak = _Peak()
        start = time.perf_counter()
        assert payload.blob is not None
        sealed = payload.blob.sealed
        key = None if sealed is None else _keys[sealed.id.hex()]
        path = await receive_blob(reader, store, payload, key)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_growth_mb": peak.growth(), "bytes": path.stat().st_size}


async def _raw(kafka: KafkaConnection, file: Path) -> dict[str, Any]:
    """The same bytes as 1 MiB records, produced then consumed with plain aiokafka."""
    topic, partition = BLOBS_TOPIC, 0
    producer = AIOKafkaProducer(
        **kafka.client_kwargs(), acks="all", enable_idempotence=True, max_request_size=2 * _CHUNK
    )
    await producer.start()
    try:
        start = time.perf_counter()
        pending: list[asyncio.Future[Any]] = []
        first = -1
        with file.open("rb") as f:
            while block := f.read(_CHUNK):
                pending.append(await producer.send(topic, block, partition=partition))
                if len(pending) >= 8:  # as many in flight as the uploader
                    meta = await pending.pop(0)
                    first = meta.offset if first < 0 else first
            for fut in pending:
                meta = await fut
                first = meta.offset if first < 0 else first
        last = meta.offset
        produce = time.perf_counter() - start
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        **kafka.client_kwargs(),
        enable_auto_commit=False,
        fetch_max_bytes=4 * _CHUNK,
        max_partition_fetch_bytes=4 * _CHUNK,
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, first)
        start = time.perf_counter()
        got = 0
        while got < last - first + 1:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            got += sum(1 for r in batch.get(tp, []) if first <= r.offset <= last)
        consume = time.perf_counter() - start
    finally:
        await consumer.stop()
    return {"produce_seconds": produce, "consume_seconds": consume}


_keys: dict[str, bytes] = {}  # blob id (hex) -> content key, in the recipient's process


def _load(path: Path) -> Payload:
    saved = pickle.loads(path.read_bytes())  # our own file, same run
    _keys.update({k: bytes.fromhex(v) for k, v in saved["keys"].items()})
    return Payload.model_validate(saved["payload"])


def _role(argv: list[str]) -> None:
    role, connection, arg, work = argv
    kafka = KafkaConnection.model_validate_json(connection)  # TLS files too: the broker is secured
    if role == "sender":
        result = asyncio.run(_sender(kafka, Path(arg), Path(work)))
    elif role == "processor":
        result = asyncio.run(_processor(kafka, _load(Path(arg))))
    elif role == "recipient":
        result = asyncio.run(_recipient(kafka, _load(Path(arg)), Path(work)))
    else:
        result = asyncio.run(_raw(kafka, Path(arg)))
    print(json.dumps(result))


def _spawn(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_large", "--role", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def run(kafka: KafkaConnection, mb: int) -> dict[str, Any]:
    """The ``large`` block of the benchmark JSON (a TLS connection is not passed to the roles)."""
    asyncio.run(apply(kafka, [t for t in load_specs() if t.name == BLOBS_TOPIC]))  # as topics apply does
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        file = work / "scan.pdf"
        with file.open("wb") as f:  # incompressible, like a scanned PDF
            for _ in range(mb):
                f.write(os.urandom(1_000_000))
        size = file.stat().st_size
        raw = _spawn("raw", kafka.model_dump_json(), str(file), str(work))
        sent = _spawn("sender", kafka.model_dump_json(), str(file), str(work / "state"))
        ref = work / "state" / "payload.pickle"
        bus = _spawn("processor", kafka.model_dump_json(), str(ref), str(work))
        got = _spawn("recipient", kafka.model_dump_json(), str(ref), str(work / "inbox"))
        assert got["bytes"] == size
    mb_total = size / 1e6
    e2e = mb_total / (sent["seconds"] + bus["seconds"] + got["seconds"])
    rawr = mb_total / (raw["produce_seconds"] + raw["consume_seconds"])
    growth = {
        "sender": sent["rss_growth_mb"],
        "processor": bus["rss_growth_mb"],
        "recipient": got["rss_growth_mb"],
    }
    return {
        "size_mb": round(mb_total, 1),
        "mb_per_s": round(e2e, 1),
        "raw_mb_per_s": round(rawr, 1),
        "ratio": round(e2e / rawr, 3),
        "target_ratio": _TARGET_RATIO,
        "rss_growth_mb": growth,
        "rss_limit_mb": _RSS_LIMIT_MB,
        "stages_s": {
            "upload": round(sent["seconds"], 2),
            "bus_check": round(bus["seconds"], 2),
            "receive": round(got["seconds"], 2),
            "raw_produce": round(raw["produce_seconds"], 2),
            "raw_consume": round(raw["consume_seconds"], 2),
        },
        "met": e2e / rawr >= _TARGET_RATIO and max(growth.values()) < _RSS_LIMIT_MB,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--role":
        _role(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:29092")
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps({"large": run(KafkaConnection(bootstrap=args.bootstrap), args.mb)}, indent=2))


if __name__ == "__main__":
    main()
