"""The real processor (`docbus bus run`, a subprocess) on the broker, each figure beside the raw
aiokafka ceiling measured in the same run:

- drain: N envelopes pre-loaded on docbus.ingress (4 senders, one per algorithm, one recipient
  each), then the processor started; its rate is N over the span between its first and last inbox
  copy (the inbox records' CreateTime), beside raw aiokafka produce + consume of the same bytes;
- latency: an open-loop paced producer at fixed offered rates; submit (time of the send call) to
  the moment this process reads the copy from the recipient's inbox; p50/p95/p99, achieved rate;
- fan-out (before the paced runs, which may leave a backlog): a directive of the ministry to
  ``all-departments``, until it is in every inbox;
- the processor's resident memory (VmRSS of the subprocess) sampled throughout.

    python -m benchmarks.bench_bus --bootstrap 127.0.0.1:29092 [--drain 5000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks._ceilings import ratio, rss_mb
from benchmarks._world import ALGORITHMS, PASSPHRASE, BenchWorld, Chain, build_world
from benchmarks.bench_inboxes import answer_directive, departments
from consumers.bus.decide.policy import SenderState
from consumers.bus.decide.validator import Accepted, Validator
from consumers.bus.notices import BusNotices
from consumers.bus.outputs import Source, envelope_outputs
from docbus.directory_load import ensure_topics, publish_entries
from docbus.pki_folder import TrustFiles
from docbus.settings import connection_env
from schemas.connection import KafkaConnection
from schemas.directory_store import DirectoryStore
from schemas.topics import INGRESS_TOPIC, QUARANTINE_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.bus.kafka import BusProcess, end_offsets, produce, start_group_at_end

__all__ = ["run"]

RECIPIENT = "H05"
_JUNK = b"\xc3\x01junk"  # the single-object marker, then bytes no schema fingerprint matches
_JUNK_SENDER = b"H09"  # its ingress partition is not the good senders' (benchmarks/_world.py codes)
Batch = list[tuple[bytes, str, bytes]]  # (ingress key, message id, wire bytes)


def _producer(kafka: KafkaConnection) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **kafka.client_kwargs(),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,  # as the processor's producer (consumers/bus/app.py)
        max_request_size=3 * 1024 * 1024,
    )


def bus_env(kafka: KafkaConnection, world: BenchWorld, **settings: str) -> dict[str, str]:
    """The environment of a benchmark's `docbus bus run`: the broker, the world's PKI, the log level
    (``DOCBUS_BENCH_LOG_LEVEL``, warn), a 6 s session; ``settings`` beside them (home, app id...)."""
    return {
        **connection_env(kafka),
        "DOCBUS_PKI_DIR": str(world.pki),
        "DOCBUS_PKI_PASSPHRASE": PASSPHRASE,
        "DOCBUS_LOG_LEVEL": os.environ.get("DOCBUS_BENCH_LOG_LEVEL", "warn"),
        "DOCBUS_SESSION_TIMEOUT": "6",
        **settings,
    }


def presign(chains: dict[str, Chain], n: int, **route: tuple[str, ...]) -> Batch:
    """``n`` envelopes, round robin over the senders; every envelope signed is sent (a sender's
    chain with a hole in it would be refused from there on as SEQUENCE_GAP)."""
    k = len(chains)
    per = [
        (code.encode(), c.envelopes(n // k + (j < n % k), **route))
        for j, (code, c) in enumerate(chains.items())
    ]
    return [(key, *envs[i]) for i in range(-(-n // k)) for key, envs in per if i < len(envs)]


class Sampler:
    """VmRSS of the processor every 0.5 s while a phase runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.samples.append(rss_mb(self.pid))

    def start(self) -> None:
        self.task = asyncio.ensure_future(self._loop())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()


async def collect(
    kafka: KafkaConnection,
    start: dict[TopicPartition, int],
    wanted: set[str],
    timeout: float,
    seen: dict[Any, tuple[float, float]] | None = None,
    per_topic: bool = False,
) -> dict[Any, tuple[float, float]]:
    """Read ``start``'s partitions until every wanted key arrived (or the deadline); key (or
    (topic, key)) -> (local arrival time, record CreateTime in s)."""
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    out: dict[Any, tuple[float, float]] = {} if seen is None else seen
    need = len(wanted) * (len({tp.topic for tp in start}) if per_topic else 1)
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout
        while len(out) < need and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batches.values():
                for r in records:
                    mid = (r.key or b"").decode()
                    if mid in wanted:
                        out.setdefault((r.topic, mid) if per_topic else mid, (now, r.timestamp / 1000))
    finally:
        await consumer.stop()
    return out


async def raw_ceiling(
    kafka: KafkaConnection, batch: Batch, start: dict[TopicPartition, int]
) -> dict[str, float]:
    """Produce the batch to ingress (timed), then consume it back from ``start`` (timed)."""
    producer = _producer(kafka)
    await producer.start()
    t0 = time.perf_counter()
    try:
        futures = [await producer.send(INGRESS_TOPIC, raw, key=key) for key, _, raw in batch]
        await asyncio.gather(*futures)
    finally:
        produce_s = time.perf_counter() - t0
        await producer.stop()
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        ends = await consumer.end_offsets(list(start))
        t0, got = time.perf_counter(), 0
        while [tp for tp in start if await consumer.position(tp) < ends[tp]]:
            got += sum(len(v) for v in (await consumer.getmany(timeout_ms=200)).values())
        consume_s = time.perf_counter() - t0
    finally:
        await consumer.stop()
    n = len(batch)
    return {
        "produce_per_s": n / produce_s,
        "consume_per_s": got / consume_s,
        "both_per_s": n / (produce_s + consume_s),
    }


async def paced(kafka: KafkaConnection, batch: Batch, per_s: float, wait: float) -> dict[str, Any]:
    """Open loop: envelope i is sent at t0 + i/per_s whatever happened to the earlier ones."""
    inbox = inbox_topic(RECIPIENT)
    start = await end_offsets(kafka, [inbox])
    wanted = {mid for _, mid, _ in batch}
    arrived: dict[Any, tuple[float, float]] = {}
    reader = asyncio.ensure_future(collect(kafka, start, wanted, len(batch) / per_s + wait, arrived))
    producer = _producer(kafka)
    await producer.start()
    sent: dict[str, float] = {}
    try:
        futures = []
        t0 = time.perf_counter()
        for i, (key, mid, raw) in enumerate(batch):
            delay = t0 + i / per_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[mid] = time.time()
            futures.append(await producer.send(INGRESS_TOPIC, raw, key=key))
        achieved = len(batch) / (time.perf_counter() - t0) if len(batch) > 1 else per_s
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    await reader
    lat = sorted((arrived[m][0] - sent[m]) * 1000 for m in sent if m in arrived)
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99
    if not q:  # nothing arrived within the window: no percentile to state (``arrived`` says 0)
        q = [float("nan")] * 99
    return {
        "offered_per_s": per_s,
        "achieved_send_per_s": round(achieved),
        "envelopes": len(batch),
        "arrived": len(lat),
        "p50_ms": round(q[49], 1),
        "p95_ms": round(q[94], 1),
        "p99_ms": round(q[98], 1),
    }


async def fan_out(kafka: KafkaConnection, world: BenchWorld, chain: Chain, repeats: int) -> dict[str, Any]:
    departments = [e.code for e in world.entries if e.kind.value == "department" and e.active]
    topics = [inbox_topic(c) for c in departments]
    times = []
    producer = _producer(kafka)
    await producer.start()
    try:
        for _ in range(repeats):
            ((_, mid, raw),) = [(b"G03", *e) for e in chain.envelopes(1, groups=("all-departments",))]
            start = await end_offsets(kafka, topics)
            reader = asyncio.ensure_future(collect(kafka, start, {mid}, 30, per_topic=True))
            await asyncio.sleep(0.5)  # the reader is assigned and positioned before the send
            sent = time.time()
            await (await producer.send(INGRESS_TOPIC, raw, key=b"G03"))
            got = await reader
            if len(got) < len(topics):
                raise RuntimeError(f"directive reached {len(got)} of {len(topics)} inboxes in 30 s")
            times.append(max(t for t, _ in got.values()) - sent)
    finally:
        await producer.stop()
    return {
        "inboxes": len(topics),
        "repeats": repeats,
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "target_s": 1.0,
        "met": statistics.median(times) < 1.0,
    }


async def settled(kafka: KafkaConnection, group: str, timeout: float = 300.0) -> bool:
    """Wait until the processor group has committed the end of every ingress partition (the
    backlog of the phase before is drained), so one phase's queue is not measured in the next."""
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ends = await end_offsets(kafka, [INGRESS_TOPIC])
            done = await admin.list_consumer_group_offsets(group, partitions=list(ends))
            if all(tp in done and done[tp].offset >= end for tp, end in ends.items()):
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await admin.close()


def decision_rate(world: BenchWorld, batch: Batch) -> float:
    """The pure validate+route decision over the same envelopes, in this process (fresh tables):
    what the processor is measured against (``drain_vs_decision``)."""
    store = DirectoryStore()
    store.apply(world.entries)
    validator = Validator(TrustFiles(world.pki).policy, store)
    states: dict[str, SenderState] = {}
    t0 = time.perf_counter()
    for i, (_, _, raw) in enumerate(batch):
        d = validator.check(
            raw, now=datetime.now(UTC), position=(0, i), state_of=lambda c: states.get(c) or SenderState(),
            routed_of=lambda _: None,
        )  # fmt: skip
        if not isinstance(d, Accepted):
            raise AssertionError(f"benchmark envelope refused: {d.reason} {d.detail}")
        states[d.sender] = d.state
    return len(batch) / (time.perf_counter() - t0)


def refusal_cost(world: BenchWorld, batch: Batch, junk: int) -> dict[str, Any]:
    """What a refused record costs the processor beside an accepted envelope, in this process: the
    decision and its outputs (records as data, seals, audit drafts) per record, µs. A flood of junk
    must cost nothing next to mail (target: refused ≥ 10x cheaper)."""
    store = DirectoryStore()
    store.apply(world.entries)
    validator = Validator(TrustFiles(world.pki).policy, store)
    sealer = BusNotices(world.identities["G03.BUS"])
    states: dict[str, SenderState] = {}

    def per_record(raws: list[bytes]) -> float:
        t0 = time.perf_counter()
        for i, raw in enumerate(raws):
            now = datetime.now(UTC)
            d = validator.check(
                raw, now=now, position=(0, i), state_of=lambda c: states.get(c) or SenderState(),
                routed_of=lambda _: None,
            )  # fmt: skip
            if isinstance(d, Accepted):
                states[d.sender] = d.state
            envelope_outputs(d, raw, Source(INGRESS_TOPIC, 0, i, b"H09", now), sealer)
        return (time.perf_counter() - t0) / len(raws) * 1e6

    accepted = per_record([raw for _, _, raw in batch])
    refused = per_record([_JUNK + os.urandom(200) for _ in range(junk)])
    return {
        "accepted_us": round(accepted, 1),
        "refused_us": round(refused, 1),
        "ratio": round(accepted / refused, 1),
        "target_ratio": 10,
        "met": accepted / refused >= 10,
    }


async def workers(
    kafka: KafkaConnection, world: BenchWorld, home: Path, env: dict[str, str], n: int
) -> dict[str, Any]:
    """``n`` envelopes pre-loaded on ingress, drained by one `docbus bus run` and then by two of one
    group (fresh groups, fresh chains): N over the span of their inbox copies. On a 2-core machine
    the workers, the broker and this harness share the cores."""
    rates: dict[int, float] = {}
    for count in (1, 2):
        chains = {code: world.chain(code) for code, _, _ in ALGORITHMS.values()}
        batch = presign(chains, n, recipients=(RECIPIENT,))
        app_id = f"docbus-bench-{uuid.uuid4().hex[:8]}"
        await start_group_at_end(kafka, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
        inbox_start = await end_offsets(kafka, [inbox_topic(RECIPIENT)])
        await produce(kafka, INGRESS_TOPIC, [(key, raw) for key, _, raw in batch])
        buses = []
        for i in range(count):
            folder = home / f"workers-{count}-{i}"
            folder.mkdir()
            worker_env = {**env, "DOCBUS_HOME": str(folder), "DOCBUS_APP_ID": app_id}
            buses.append(BusProcess(worker_env, folder / "bus.log"))
        for bus in buses:
            bus.start()
        try:
            got = await collect(kafka, inbox_start, {m for _, m, _ in batch}, 120 + n / 100)
        finally:
            for bus in buses:
                bus.stop()
        if len(got) < len(batch):
            raise RuntimeError(f"{count} worker(s) drained {len(got)} of {len(batch)}")
        stamps = sorted(ts for _, ts in got.values())
        rates[count] = (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-3)
    return {
        "envelopes": n,
        "one_per_s": round(rates[1]),
        "two_per_s": round(rates[2]),
        "ratio": ratio(rates[2], rates[1]),
    }


async def junk_flood(
    kafka: KafkaConnection, chains: dict[str, Chain], junk: int, app_id: str
) -> dict[str, Any]:
    """``junk`` undecodable records from one sender key, sent as fast as the producer goes, while
    the other senders' envelopes are paced at 100/s; the good envelopes' p99 submit->inbox during
    the flood, and junk drained per second: N over the span of the processor's quarantine records
    for it (their CreateTime, as ``drain_per_s`` is over the inbox copies), so the paced traffic's
    own 3 s do not cap it."""
    start_q = await end_offsets(kafka, [QUARANTINE_TOPIC])
    good = presign(chains, 300, recipients=(RECIPIENT,))
    producer = _producer(kafka)
    await producer.start()
    t0 = time.perf_counter()
    try:
        send = producer.send
        flood = [await send(INGRESS_TOPIC, _JUNK + os.urandom(200), key=_JUNK_SENDER) for _ in range(junk)]
        row = await paced(kafka, good, 100, wait=15)
        await asyncio.gather(*flood)
    finally:
        await producer.stop()
    stamps = await _quarantined(kafka, start_q, app_id, junk, timeout=120)
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    return {
        "junk_records": junk,
        "junk_quarantined": len(stamps),
        "junk_per_s": round((len(stamps) - 1) / max(span, 1e-3)) if len(stamps) > 1 else 0,
        "junk_wall_per_s": round(len(stamps) / (time.perf_counter() - t0)),
        "good_envelopes": row["envelopes"],
        "good_arrived": row["arrived"],
        "good_p99_ms_during_flood": row["p99_ms"],
        "target_good_p99_ms": 1000,
        "met": row["p99_ms"] < 1000 and row["arrived"] == row["envelopes"],
    }


async def _quarantined(
    kafka: KafkaConnection, start: dict[TopicPartition, int], app_id: str, n: int, timeout: float
) -> list[float]:
    """CreateTimes (s) of the first ``n`` quarantine records written by processor group ``app_id``
    for the junk sender, from ``start`` on, sorted."""
    if n <= 0:  # no flood (measure_flood's runs without one): nothing to wait for
        return []
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    stamps: list[float] = []
    mine = ("docbus_processor", app_id.encode())
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout
        while len(stamps) < n and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                stamps += [
                    r.timestamp / 1000 for r in records if r.key == _JUNK_SENDER and mine in (r.headers or ())
                ]
    finally:
        await consumer.stop()
    return sorted(stamps)[:n]


async def measure(
    kafka: KafkaConnection,
    world: BenchWorld,
    home: Path,
    drain: int,
    rates: Sequence[int],
    seconds: float,
    fanouts: int,
    junk: int = 5000,
    answer: bool = True,
) -> dict[str, Any]:
    await ensure_topics(kafka, world.entries)
    await publish_entries(kafka, world.entries)
    chains = {code: world.chain(code) for code, _, _ in ALGORITHMS.values()}
    batch = presign(chains, drain, recipients=(RECIPIENT,))
    app_id = f"docbus-bench-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    ingress_start = await end_offsets(kafka, [INGRESS_TOPIC])
    inbox_start = await end_offsets(kafka, [inbox_topic(RECIPIENT)])
    decided = decision_rate(world, batch)
    refusal = refusal_cost(world, batch[: max(1, drain // 4)], junk)
    raw = await raw_ceiling(kafka, batch, ingress_start)
    env = bus_env(kafka, world, DOCBUS_HOME=str(home), DOCBUS_APP_ID=app_id)
    bus = BusProcess(env, home / "bus.log")
    bus.start()
    assert bus.proc is not None
    sampler = Sampler(bus.proc.pid)
    sampler.start()
    try:
        got = await collect(kafka, inbox_start, {m for _, m, _ in batch}, 120 + drain / 200)
        if len(got) < len(batch):
            raise RuntimeError(f"drained {len(got)} of {len(batch)}; bus log: {bus.log.read_text()[-2000:]}")
        stamps = sorted(ts for _, ts in got.values())
        drained = (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-3)
        result: dict[str, Any] = {
            "drain_per_s": round(drained),
            "decision_per_s": round(decided),
            "drain_vs_decision": ratio(drained, decided),
            "drain": {
                "envelopes": len(batch),
                "processor_per_s": round(drained),
                "raw_produce_per_s": round(raw["produce_per_s"]),
                "raw_consume_per_s": round(raw["consume_per_s"]),
                "raw_produce_plus_consume_per_s": round(raw["both_per_s"]),
                "ratio": ratio(drained, raw["both_per_s"]),
            },
        }
        answering = departments(world, skip=(RECIPIENT,))
        inbox_start = await end_offsets(kafka, [inbox_topic(c) for c in answering])
        try:
            result["fan_out"] = await fan_out(kafka, world, world.chain("G03"), fanouts)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; bus log: {bus.log.read_text()[-3000:]}") from None
        if answer:  # about a minute on a loaded 2-core machine: the quick sizes leave it out
            result["inbox_answer"] = await answer_directive(kafka, world, home, inbox_start, answering)
        result["latency"] = []
        for per_s in rates:
            backlog_drained = await settled(kafka, app_id)
            paced_batch = presign(chains, max(2, int(per_s * seconds)), recipients=(RECIPIENT,))
            row = await paced(kafka, paced_batch, per_s, wait=15)
            row["backlog_drained_before"] = backlog_drained
            if per_s == 1000:
                row["target_p99_ms"], row["met"] = (
                    50,
                    row["p99_ms"] < 50 and row["arrived"] == row["envelopes"],
                )
            result["latency"].append(row)
        backlog_drained = await settled(kafka, app_id)
        result["junk_flood"] = await junk_flood(kafka, chains, junk, app_id)
        result["junk_flood"]["backlog_drained_before"] = backlog_drained
        # the same comparison on the broker: junk drained beside envelopes drained, same processor
        refusal["junk_vs_drain_on_broker"] = ratio(result["junk_flood"]["junk_per_s"], drained)
        result["refusal"] = refusal
    finally:
        sampler.stop()
        bus.stop()
        if os.environ.get("DOCBUS_BENCH_BUS_LOG"):  # keep the processor's log for a look afterwards
            shutil.copyfile(bus.log, os.environ["DOCBUS_BENCH_BUS_LOG"])
    result["workers"] = await workers(kafka, world, home, env, drain)
    rss = [s for s in sampler.samples if s > 0]
    half = rss[len(rss) // 2 :]
    result["processor_memory"] = {
        "what": "VmRSS of `docbus bus run` every 0.5 s over the drain, latency and fan-out runs",
        "envelopes_processed": len(batch) + sum(r["envelopes"] for r in result["latency"]) + fanouts,
        "rss_mb_min": round(min(rss), 1),
        "rss_mb_max": round(max(rss), 1),
        "rss_mb_second_half_min": round(min(half), 1),
        "rss_mb_second_half_max": round(max(half), 1),
        "target": "flat and < 300 MB",
        "met": max(rss) < 300,
    }
    return result


async def measure_flood(
    kafka: KafkaConnection, world: BenchWorld, home: Path, junk: int, bounds: Sequence[int], rounds: int
) -> dict[str, Any]:
    """``bus.junk_flood`` alone, once per round for each poll bound (``DOCBUS_FETCH_PER_PARTITION``,
    consumers/bus/fetch.py), with the flood and without it (the same paced good traffic alone: what
    the machine's load costs it), alternating so neighbouring runs share the load: a fresh `docbus
    bus run` each (fresh group, tables and chains), 20 good envelopes through it first so the flood
    meets a running processor. A bound of 1,000,000 takes each partition's whole fetch, as faust's
    own poll does."""
    await ensure_topics(kafka, world.entries)
    await publish_entries(kafka, world.entries)
    rows: list[dict[str, Any]] = []
    for i in range(rounds):
        for bound, flood in [(b, n) for b in bounds for n in (junk, 0)]:
            chains = {code: world.chain(code) for code, _, _ in ALGORITHMS.values()}
            app_id = f"docbus-bench-{uuid.uuid4().hex[:8]}"
            await start_group_at_end(kafka, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
            folder = home / f"flood-{i}-{bound}-{flood}"
            folder.mkdir()
            env = bus_env(
                kafka, world, DOCBUS_HOME=str(folder), DOCBUS_APP_ID=app_id,
                DOCBUS_FETCH_PER_PARTITION=str(bound),
            )  # fmt: skip
            bus = BusProcess(env, folder / "bus.log")
            bus.start()
            try:
                warm = await paced(kafka, presign(chains, 20, recipients=(RECIPIENT,)), 10, wait=120)
                if warm["arrived"] < warm["envelopes"]:
                    raise RuntimeError(f"warm-up: {warm}; bus log: {bus.log.read_text()[-2000:]}")
                row = await junk_flood(kafka, chains, flood, app_id)
            finally:
                bus.stop()
            rows.append({"round": i, "fetch_per_partition": bound, "load_1min": os.getloadavg()[0], **row})
    return {"junk": junk, "runs": rows}


def run_flood(kafka: KafkaConnection, junk: int, bounds: Sequence[int], rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp) / "pki")
        return asyncio.run(measure_flood(kafka, world, Path(tmp), junk, bounds, rounds))


def run_workers(kafka: KafkaConnection, n: int) -> dict[str, Any]:
    """``bus.workers`` alone: ``n`` envelopes drained by one worker, then by two."""

    async def measure_workers(world: BenchWorld, home: Path) -> dict[str, Any]:
        await ensure_topics(kafka, world.entries)
        await publish_entries(kafka, world.entries)
        return await workers(kafka, world, home, bus_env(kafka, world), n)

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(measure_workers(build_world(Path(tmp) / "pki"), Path(tmp)))


def run(
    kafka: KafkaConnection,
    drain: int,
    rates: Sequence[int],
    seconds: float,
    fanouts: int,
    junk: int = 5000,
    answer: bool = True,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp) / "pki")
        return asyncio.run(measure(kafka, world, Path(tmp), drain, rates, seconds, fanouts, junk, answer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:29092")
    parser.add_argument("--drain", type=int, default=5000)
    parser.add_argument("--rates", default="100,1000,5000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--fanouts", type=int, default=5)
    parser.add_argument(
        "--flood-only", metavar="BOUNDS",
        help="only bus.junk_flood, on the test broker, for each DOCBUS_FETCH_PER_PARTITION in BOUNDS "
        "(comma-separated), alternating, --rounds times",
    )  # fmt: skip
    parser.add_argument(
        "--workers-only", type=int, metavar="N", help="only bus.workers, N envelopes, on the test broker"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--junk", type=int, default=5000)
    args = parser.parse_args()
    if args.flood_only:
        from benchmarks.suite import test_broker

        bounds = [int(b) for b in args.flood_only.split(",")]
        with test_broker() as kafka:
            print(json.dumps(run_flood(kafka, args.junk, bounds, args.rounds), indent=2))
        return
    if args.workers_only:
        from benchmarks.suite import test_broker

        with test_broker() as kafka:
            print(json.dumps(run_workers(kafka, args.workers_only), indent=2))
        return
    rates = [int(r) for r in args.rates.split(",")]
    kafka = KafkaConnection(bootstrap=args.bootstrap)
    print(json.dumps(run(kafka, args.drain, rates, args.seconds, args.fanouts), indent=2))


if __name__ == "__main__":
    main()
