"""One `docbus inbox` process answering a directive for every department it serves.

After the bus's fan-out (bench_bus.fan_out: the ministry's directives to ``all-departments``), one
process started as an operator would (``docbus inbox --org H06 --org H07 ... --once --json``)
verifies, stores and answers 01 for every department's copies; its wall time from start to exit,
beside the raw ceiling of the same run: one plain aiokafka consumer reading the same inbox records
to their end (no verification, no store, no receipts), and the fixed cost of one single-org
process (start, load keys, join, see it is caught up) that serving the codes one process at a
time pays once per code.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks._ceilings import ratio
from benchmarks._world import PASSPHRASE, BenchWorld
from docbus.settings import connection_env
from infra.pki import Authority
from schemas.connection import KafkaConnection
from schemas.topics import DIRECTORY_TOPIC, inbox_topic
from tests.bus.kafka import REPO

__all__ = ["answer_directive", "departments"]

TARGET_S = 5.0


async def _raw_read(kafka: KafkaConnection, start: dict[TopicPartition, int]) -> tuple[int, float]:
    """Every record from ``start`` to the end with one consumer: (records, seconds)."""
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=None, enable_auto_commit=False)
    t0 = time.perf_counter()
    await consumer.start()
    try:
        parts = list(start)
        consumer.assign(parts)
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        ends = await consumer.end_offsets(parts)
        count, left = 0, set(parts)
        while left:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                count += len(records)
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
        return count, time.perf_counter() - t0
    finally:
        await consumer.stop()


async def _position(kafka: KafkaConnection, group: str, start: dict[TopicPartition, int], topic: str) -> None:
    offsets = {tp: o for tp, o in start.items() if tp.topic == topic}
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def _docbus(
    env: dict[str, str], *args: str, profile: Path | None = None
) -> tuple[dict[str, Any], float, float]:
    """The command's JSON, its wall time and its CPU time (user + system) in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    profiled = ("-m", "cProfile", "-o", str(profile)) if profile is not None else ()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *profiled, "-m", "docbus.cli", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if proc.returncode != 0:
        raise RuntimeError(f"docbus {' '.join(args[:3])}... exited {proc.returncode}: {err.decode()[-2000:]}")
    return json.loads(out), elapsed, cpu


async def _directory_records(kafka: KafkaConnection) -> int:
    """Records on the directory topic (entries of every PKI that published there, this run's too)."""
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [
            TopicPartition(DIRECTORY_TOPIC, p) for p in consumer.partitions_for_topic(DIRECTORY_TOPIC) or ()
        ]
        if not parts:
            parts = [TopicPartition(DIRECTORY_TOPIC, 0)]
        first, ends = await consumer.beginning_offsets(parts), await consumer.end_offsets(parts)
        return sum(ends[tp] - first[tp] for tp in parts)
    finally:
        await consumer.stop()


def departments(world: BenchWorld, skip: tuple[str, ...] = ()) -> list[str]:
    return [e.code for e in world.entries if e.kind.value == "department" and e.active and e.code not in skip]


async def answer_directive(
    kafka: KafkaConnection,
    world: BenchWorld,
    work: Path,
    start: dict[TopicPartition, int],
    codes: list[str],
    profile: Path | None = None,
) -> dict[str, Any]:
    """The inboxes of ``codes`` answered by one process; ``start``: their end offsets before the
    fan-out (what the raw reader reads from). Seals are issued for codes the benchmark PKI
    lacks, before timing. The drain's recipient is left out by the caller: its inbox holds the drain."""
    ca = Authority(world.pki, PASSPHRASE.encode())
    with ca.batch():
        for code in codes:
            if not (world.pki / "issued" / code / "org.key.pem").is_file():
                ca.issue_org(code, f"Sở {code}", pkcs12=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCBUS_")}
    env |= {**connection_env(kafka), "DOCBUS_PKI_DIR": str(world.pki), "DOCBUS_PKI_PASSPHRASE": PASSPHRASE,
            "DOCBUS_HOME": str(work / "inboxes")}  # fmt: skip
    # each code's group starts where the fan-out began (earlier benchmarks' records are not this work)
    await asyncio.gather(*(_position(kafka, f"docbus-inbox-{c}", start, inbox_topic(c)) for c in codes))
    records, raw_s = await _raw_read(kafka, start)
    orgs = [a for c in codes for a in ("--org", c)]
    directory = await _directory_records(kafka)
    shown, took, cpu = await _docbus(env, "inbox", *orgs, "--once", "--json", profile=profile)
    shapes = shown.get("orgs", [shown])
    answered = sum(1 for s in shapes for d in s["documents"] if d["receipt_sent"])
    handled = sum(len(s["handled"]) for s in shapes)
    _, one, one_cpu = await _docbus(
        env, "inbox", "--org", codes[0], "--once", "--json"
    )  # caught up: fixed cost
    load = os.getloadavg()
    return {
        "inboxes": len(codes),
        "records": records,
        "handled": handled,
        "answered_01": answered,
        "one_process_s": round(took, 3),
        "one_process_cpu_s": round(cpu, 3),
        "raw_read_s": round(raw_s, 3),
        "vs_raw": ratio(raw_s, took),
        "single_org_process_s": round(one, 3),
        "single_org_process_cpu_s": round(one_cpu, 3),
        "one_process_per_code_estimate_s": round(one * len(codes), 1),
        "directory_records": directory,
        "directory_entries_of_this_run": len(world.entries),
        "load_average_1_5_15": [round(x, 2) for x in load],
        "target_s": TARGET_S,
        "met": took < TARGET_S and answered == handled == records,
    }


async def _alone(
    kafka: KafkaConnection, world: BenchWorld, work: Path, fanouts: int, profile: Path | None
) -> dict[str, Any]:
    """The directory published, ``fanouts`` directives fanned out by a bus process of its own,
    then every department's inbox answered by one process."""
    import uuid

    from benchmarks.bench_bus import fan_out
    from docbus.directory_load import ensure_topics, publish_entries
    from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC
    from tests.bus.kafka import BusProcess, end_offsets, start_group_at_end

    await ensure_topics(kafka, world.entries)
    await publish_entries(kafka, world.entries)
    app_id = f"docbus-bench-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    env = {
        "DOCBUS_HOME": str(work),
        **connection_env(kafka),
        "DOCBUS_PKI_DIR": str(world.pki),
        "DOCBUS_PKI_PASSPHRASE": PASSPHRASE,
        "DOCBUS_APP_ID": app_id,
        "DOCBUS_SESSION_TIMEOUT": "6",
    }
    codes = departments(world)
    start = await end_offsets(kafka, [inbox_topic(c) for c in codes])
    bus = BusProcess(env, work / "bus.log")
    bus.start()
    try:
        spread = await fan_out(kafka, world, world.chain("G03"), fanouts)
    finally:
        bus.stop()
    return {
        "fan_out": spread,
        "inbox_answer": await answer_directive(kafka, world, work, start, codes, profile),
    }


def main() -> None:
    import argparse
    import tempfile

    from benchmarks._world import build_world
    from benchmarks.suite import test_broker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fanouts", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None, help="cProfile output of the inbox process")
    parser.add_argument("--keep", type=Path, default=None, help="keep the PKI and the stores in this folder")
    args = parser.parse_args()
    with test_broker() as kafka, tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        world = build_world(work / "pki")
        print(json.dumps(asyncio.run(_alone(kafka, world, work, args.fanouts, args.profile)), indent=2))


if __name__ == "__main__":
    main()
