"""bus.recovery: how long a fault stops delivery. Paced traffic (4 senders, one per algorithm, to one
recipient) runs through the real processor (`docbus bus run`, a subprocess) while a fault is made;
``kill_to_first_delivery_s`` is the time from the fault to the moment this process reads, from the
recipient's inbox, the copy of the first envelope submitted after the fault.

- processor kill: SIGKILL of `docbus bus run`, started again at once (its group session must
  expire first: DOCBUS_SESSION_TIMEOUT=6, as in the tests); on the given broker;
- broker kill (3-node cluster, RF 3, min ISR 2): SIGKILL of the node leading the recipient's inbox
  partition, brought back once measured;
- broker pause (the same cluster): SIGSTOP of that leader for ``pause`` seconds, then SIGCONT.

The reading side here uses the long-running clients' settings (producers/failover.py),
so its own failover is part of the figure, as it would be for an inbox client; ``bus_wrote_s`` is
the bus's share: from the fault to the CreateTime the bus's producer gave that envelope's inbox copy
(the same machine's clock).

    python -m benchmarks.bench_recovery [--cluster]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from benchmarks._world import ALGORITHMS, PASSPHRASE, BenchWorld, Chain, build_world
from docbus.directory_load import ensure_topics, publish_entries
from docbus.settings import connection_env
from infra.broker import Cluster
from producers.failover import long_running_consumer, long_running_producer
from schemas.connection import KafkaConnection
from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.bus.kafka import BusProcess, end_offsets, start_group_at_end

__all__ = ["run", "test_cluster"]

RECIPIENT = "H05"
RATE = 20.0  # envelopes a second: enough to see the first delivery after a fault to 50 ms
Repair = Callable[[], Awaitable[None]]
Fault = Callable[[BusProcess], Awaitable[Repair | None]]  # makes the fault; returns its repair


class Traffic:
    """Envelopes signed and sent at ``RATE`` until stopped; each one's send time, each copy's
    arrival time in the inbox (read by this process)."""

    def __init__(self, kafka: KafkaConnection, chains: list[Chain]) -> None:
        self.kafka, self.chains = kafka, chains
        self.sent: dict[str, float] = {}
        self.arrived: dict[str, float] = {}
        self.written: dict[str, float] = {}  # the inbox copy's CreateTime (the bus's producer), Unix s
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        start = await end_offsets(self.kafka, [inbox_topic(RECIPIENT)])
        self._tasks = [asyncio.ensure_future(self._read(start)), asyncio.ensure_future(self._send())]

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _send(self) -> None:
        """One loop per sender org, each at its share of ``RATE``, as separate nodes send: a sender
        whose ingress partition's leader is down waits alone, and hands the same envelope again
        until the broker stores it (a sender that lost one would have its next ones refused as a
        sequence gap), keeping its first attempt as its send time. Before, one shared loop handed
        envelopes over without their answer: at the first fault that stalled an ingress partition
        aiokafka's ``send`` raised KafkaTimeoutError (the partition's batch full for a request
        timeout), the loop died, and every fault after it read as nothing delivered."""
        producer = long_running_producer(self.kafka, acks="all", enable_idempotence=True, linger_ms=1)
        await producer.start()
        try:
            per_s = RATE / len(self.chains)
            senders = (self._send_as(producer, chain, per_s, k / RATE) for k, chain in enumerate(self.chains))
            await asyncio.gather(*senders)
        finally:
            await producer.stop()

    async def _send_as(self, producer: AIOKafkaProducer, chain: Chain, per_s: float, phase: float) -> None:
        await asyncio.sleep(phase)  # the senders' slots spread over each period
        i, t0 = 0, time.monotonic()
        while not self._stop.is_set():
            ((mid, raw),) = chain.envelopes(1, recipients=(RECIPIENT,))
            self.sent[mid] = time.monotonic()
            while True:
                try:
                    await (await producer.send(INGRESS_TOPIC, raw, key=chain.identity.org_code.encode()))
                    break
                except KafkaError:  # timed out or expired while the partition's leader was down
                    continue
            i += 1
            await asyncio.sleep(max(0.0, t0 + i / per_s - time.monotonic()))

    async def _read(self, start: dict[TopicPartition, int]) -> None:
        consumer = long_running_consumer(self.kafka, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(list(start))
            for tp, offset in start.items():
                consumer.seek(tp, offset)
            while True:
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    now = time.monotonic()
                    for r in records:
                        self.arrived.setdefault((r.key or b"").decode(), now)
                        self.written.setdefault((r.key or b"").decode(), r.timestamp / 1000)
        finally:
            await consumer.stop()

    def first_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the arrival of the first envelope sent after it."""
        later = [self.arrived[m] for m, t in self.sent.items() if t >= moment and m in self.arrived]
        return min(later) - moment if later else None

    def first_written_after(self, moment: float, wall: float) -> float | None:
        """Seconds from ``moment`` (``wall`` on the Unix clock) to the bus's write of the first
        inbox copy of an envelope sent after it: the bus's share of the stall, the reader's own
        failover left out."""
        later = [self.written[m] for m, t in self.sent.items() if t >= moment and m in self.written]
        return round(min(later) - wall, 2) if later else None

    async def wait_first_after(self, moment: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.first_after(moment)
            if got is not None:
                return got
            await asyncio.sleep(0.05)
        return None


async def _inbox_leader(kafka: KafkaConnection) -> int:
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        (described,) = await admin.describe_topics([inbox_topic(RECIPIENT)])
        return int(described["partitions"][0]["leader"])
    finally:
        await admin.close()


async def _whole(kafka: KafkaConnection, size: int, timeout: float = 180.0) -> float:
    """Wait until ``size`` brokers are in service (registered and unfenced: the ones a client is told
    of) and every partition's in-sync replicas are all its replicas; returns the seconds waited.

    A fault made before the one before it is repaired measures two faults: a broker restarted after
    the kill is back in the cluster and catching up seconds after its process listens, and a pause
    of another node meanwhile leaves one in-sync replica of three, below ``min.insync.replicas``, so
    nothing is written until the first one is back (a pause measured 17.2 s so, the restarted node
    unfenced 16 s into it)."""
    began = time.monotonic()
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        while True:
            brokers = (await admin.describe_cluster())["brokers"]
            partitions = [p for topic in await admin.describe_topics() for p in topic["partitions"]]
            lagging = [p for p in partitions if len(p["isr"]) < len(p["replicas"])]
            if len(brokers) >= size and partitions and not lagging:
                return time.monotonic() - began
            if time.monotonic() - began > timeout:
                raise RuntimeError(
                    f"cluster not whole after {timeout:.0f} s: {len(brokers)} of {size} brokers, "
                    f"{len(lagging)} partition(s) short of their replicas"
                )
            await asyncio.sleep(0.5)  # polling an observable condition, under a bound
    finally:
        await admin.close()


async def _measure(
    kafka: KafkaConnection, world: BenchWorld, home: Path, faults: dict[str, Fault], wait: float,
    replication: int,
) -> dict[str, Any]:  # fmt: skip
    await ensure_topics(kafka, world.entries)
    await publish_entries(kafka, world.entries)
    app_id = f"docbus-bench-recovery-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    env = {
        "DOCBUS_HOME": str(home), **connection_env(kafka), "DOCBUS_PKI_DIR": str(world.pki),
        "DOCBUS_PKI_PASSPHRASE": PASSPHRASE, "DOCBUS_APP_ID": app_id, "DOCBUS_SESSION_TIMEOUT": "6",
        "DOCBUS_CHANGELOG_REPLICATION": str(replication),
        "DOCBUS_LOG_LEVEL": os.environ.get("DOCBUS_BENCH_LOG_LEVEL", "warn"),
    }  # fmt: skip
    bus = BusProcess(env, home / f"bus-{app_id}.log")
    traffic = Traffic(kafka, [world.chain(code) for code, _, _ in ALGORITHMS.values()])
    bus.start()
    await traffic.start()
    out: dict[str, Any] = {}
    try:
        if await traffic.wait_first_after(time.monotonic(), 120) is None:
            raise RuntimeError(f"no delivery before any fault; bus log: {bus.log.read_text()[-2000:]}")
        for name, fault in faults.items():
            if replication > 1:  # each fault on a whole cluster: one fault at a time
                whole = await _whole(kafka, replication)
            await asyncio.sleep(2.0)  # steady traffic before the fault
            repair = await fault(bus)
            # the clock starts once the fault is made: looking up the leader and killing it take
            # a while, and mail sent meanwhile still got through (a 0.14 s "kill" was measured so)
            moment, wall = time.monotonic(), time.time()
            took = await traffic.wait_first_after(moment, wait)
            if repair is not None:
                await repair()
            out[name] = {
                "kill_to_first_delivery_s": None if took is None else round(took, 2),
                "bus_wrote_s": traffic.first_written_after(moment, wall),
            }
            if replication > 1:
                out[name]["cluster_whole_after_s"] = round(whole, 2)  # waited before this fault
            if took is None:
                out[name]["note"] = f"nothing submitted after the fault delivered within {wait:.0f} s"
            await traffic.wait_first_after(time.monotonic(), wait)  # healthy again before the next
    finally:
        await traffic.stop()
        bus.stop()
    return out


async def _processor_kill(bus: BusProcess) -> None:
    bus.kill()
    bus.start()
    return None


async def measure(
    kafka: KafkaConnection, world: BenchWorld, home: Path, cluster: Cluster | None, pause: float, wait: float
) -> dict[str, Any]:
    """``processor_kill``: on ``kafka``; ``broker_kill`` and ``broker_pause``: on ``cluster``
    (skipped without one)."""
    result: dict[str, Any] = {
        "what": "seconds from the fault to the first inbox copy of an envelope submitted after it",
        "offered_per_s": RATE,
    }
    got = await _measure(kafka, world, home, {"processor_kill": _processor_kill}, wait, 1)
    result["processor_kill"] = {**got["processor_kill"], "where": "the given broker"}
    if cluster is None:
        return result
    ckafka = _harness(cluster)

    async def kill(_: BusProcess) -> Repair:
        await asyncio.to_thread(cluster.stop, [await _inbox_leader(ckafka)], kill=True)

        async def repair() -> None:
            await asyncio.to_thread(cluster.start)

        return repair

    async def stop(_: BusProcess) -> Repair:
        node = await _inbox_leader(ckafka)
        cluster.pause([node])

        async def resume_later() -> None:
            await asyncio.sleep(pause)  # the pause lasts its whole length, whatever is measured
            cluster.pause([node], resume=True)

        resuming = asyncio.ensure_future(resume_later())

        async def resumed() -> None:
            await resuming

        return resumed

    faults: dict[str, Fault] = {"broker_kill": kill, "broker_pause": stop}
    try:
        got = await _measure(ckafka, world, home, faults, wait, 3)
    finally:  # never leave a node stopped, whatever ended the run
        cluster.pause([n.node_id for n in cluster.nodes], resume=True)
    where = f"{len(cluster.nodes)}-node cluster, the inbox partition's leader"
    result["broker_kill"] = {**got["broker_kill"], "where": where, "signal": "SIGKILL"}
    result["broker_pause"] = {**got["broker_pause"], "where": where, "signal": f"SIGSTOP for {pause:.0f} s"}
    result["target_s"] = 15.0
    result["met"] = all(
        result[k]["kill_to_first_delivery_s"] is not None and result[k]["kill_to_first_delivery_s"] <= 15.0
        for k in ("broker_kill", "broker_pause")
    )
    return result


def _harness(cluster: Cluster) -> KafkaConnection:
    from tests.conftest import harness_connection

    return harness_connection(cluster)


def test_cluster() -> Cluster:
    """The 3-node test cluster of tests/conftest.py (its ports), started if it is not running."""
    from infra.security import secure_cluster
    from tests.conftest import ensure_test_pki, test_settings

    cluster = secure_cluster(ensure_test_pki(), 3, test_settings())
    cluster.start()
    return cluster


def run(
    kafka: KafkaConnection, cluster: Cluster | None, pause: float = 30.0, wait: float = 60.0,
    keep: Path | None = None,
) -> dict[str, Any]:
    """``keep``: a folder that keeps the bus logs and the PKI (default: a temporary one)."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) if keep is None else keep
        world = build_world(home / "pki")
        return asyncio.run(measure(kafka, world, home, cluster, pause, wait))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="the broker for the processor kill (default: the test broker)")
    parser.add_argument("--cluster", action="store_true", help="also the broker kill and pause (3 nodes)")
    parser.add_argument("--pause", type=float, default=30.0)
    parser.add_argument("--keep", type=Path, help="keep the bus logs here (level: DOCBUS_BENCH_LOG_LEVEL)")
    args = parser.parse_args()
    from benchmarks.suite import broker_for

    cluster = test_cluster() if args.cluster else None
    with broker_for(args.bootstrap) as kafka:
        print(json.dumps(run(kafka, cluster, args.pause, keep=args.keep), indent=2))


if __name__ == "__main__":
    main()
