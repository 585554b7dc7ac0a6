"""N workers: two `docbus bus run` processes of one group share the ingress and receipts partitions.
Traffic flows while a second worker joins: every envelope is routed and every receipt forwarded
exactly once (a join is a normal path: the batches in hand are finished and committed before the
partitions move, and a record faust hands again after the rebalance is not decided twice). Then
the first worker is killed (SIGKILL) under traffic: every envelope is delivered, each message id
kept once by the inbox (ADR 0001: at-least-once, deduplicated by id downstream), at most the
batches in flight routed again, nothing refused as a replay or a gap (each sender's state followed
its partition through both rebalances), the receipts agent keeps deciding on the survivor, and the
group's committed offsets reach the end of every partition once drained."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from schemas.connection import KafkaConnection
from schemas.envelope import Envelope
from schemas.receipt import StatusCode
from schemas.topics import INGRESS_TOPIC, QUARANTINE_TOPIC, RECEIPTS_TOPIC, inbox_topic
from tests.bus.conftest import bus_env
from tests.bus.kafka import (
    BusProcess,
    end_offsets,
    lag,
    produce,
    quarantined,
    read_until,
    start_group_at_end,
)
from tests.bus.test_receipts import answer
from tests.bus.test_restarts import _lag
from tests.bus.world import Sender, World

pytestmark = pytest.mark.broker

Records = list[ConsumerRecord[bytes, bytes]]
BATCH = 20
SENDERS = ("G03", "H01", "H02", "H04")  # four ingress keys, spread over the partitions
PER_SENDER = 120
TARGET = "H05"


async def _joined(kafka: KafkaConnection, group: str, members: int, logs: Callable[[], str]) -> None:
    """Until ``group`` is stable with ``members`` members (polled under a bound)."""
    for _ in range(600):
        if await _members(kafka, group) == members:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the group never settled with {members} member(s)\n{logs()}")


async def _members(kafka: KafkaConnection, group: str) -> int:
    """Members of the group in a stable generation (0 while it rebalances)."""
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        (described,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (found,) = described.groups
    _error, _group, state, _protocol_type, _protocol, members = found[:6]
    return len(members) if state == "Stable" else 0


async def test_second_worker_added_then_first_killed_loses_and_duplicates_nothing(
    kafka_conn: KafkaConnection, published: World, tmp_path: Path
) -> None:
    """Envelopes flow while a second worker joins: each is routed exactly once (a join is a normal
    path: the first worker finishes and commits its batches before its partitions move, and a
    record the consumer hands again after the rebalance is not decided twice). Then envelopes flow
    while the first worker is killed: a SIGKILL mid-batch may route the batches in flight again,
    the same message id again, which the inbox keeps once (ADR 0001: at-least-once, deduplicated
    by id downstream), at most those batches, and nothing is lost or refused."""
    chains = {code: published.sender(code) for code in SENDERS}
    ids: set[bytes] = set()
    joined = asyncio.Event()

    def envelope(code: str) -> tuple[str, bytes, bytes]:
        env, raw = chains[code].envelope((TARGET,))
        ids.add(env.message_id.encode())
        return INGRESS_TOPIC, code.encode(), raw

    def across_the_join() -> Iterator[tuple[str, bytes, bytes]]:
        """Round robin over the senders until the group is stable with both workers."""
        while not joined.is_set():
            yield from (envelope(code) for code in SENDERS)

    app_id = f"docbus-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    start = await end_offsets(kafka_conn, [inbox_topic(TARGET), QUARANTINE_TOPIC])
    workers = []
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        env = {**bus_env(kafka_conn, published, home, app_id), "DOCBUS_BATCH_SIZE": str(BATCH)}
        workers.append(BusProcess(env, home / "bus.log"))
    first, second = workers

    def copies(records: Records) -> Counter[bytes]:
        return Counter(r.key for r in records if r.topic == inbox_topic(TARGET) and r.key in ids)

    def logs() -> str:
        return "\n".join(f"--- {w.log}\n{w.log.read_text()[-2000:]}" for w in workers)

    first.start()
    traffic = asyncio.ensure_future(_flow(kafka_conn, across_the_join()))
    try:
        got = await read_until(kafka_conn, start, lambda rs: len(copies(rs)) >= 40, bus=first)
        assert len(copies(got)) >= 40, logs()
        second.start()  # add one: the group rebalances and the two share the partitions
        await _joined(kafka_conn, app_id, 2, logs)
        joined.set()
        await traffic
        # no receipt was judged yet, so the joining worker first rebuilds its lifecycle table from
        # the whole of docbus.status (consumers/bus/rebuild.py): 40 s on a loaded shared broker
        records = await read_until(kafka_conn, start, lambda rs: len(copies(rs)) == len(ids), timeout=240)
        seen = copies(records)
        assert ids - set(seen) == set(), f"{len(ids - set(seen))} missing after the join\n{logs()}"
        twice = [key for key, n in seen.items() if n > 1]
        assert twice == [], f"{len(twice)} routed twice across the join\n{logs()}"
        before = len(ids)
        killed = [envelope(code) for _ in range(PER_SENDER // 2) for code in SENDERS]
        traffic = asyncio.ensure_future(_flow(kafka_conn, iter(killed)))
        half = before + len(killed) // 2
        got = await read_until(kafka_conn, start, lambda rs: len(copies(rs)) >= half)
        assert len(copies(got)) >= half, logs()
        first.kill()  # kill one: its partitions (and their sender states) move to the survivor
        await traffic
        records = await read_until(kafka_conn, start, lambda rs: len(copies(rs)) == len(ids), bus=second)
        seen = copies(records)
        assert ids - set(seen) == set(), f"{len(ids - set(seen))} missing after the kill\n{logs()}"
        # each sender's next envelope continues its chain on whichever worker holds it now
        more = {code: chains[code].envelope((TARGET,)) for code in SENDERS}
        more_ids = {env.message_id.encode() for env, _ in more.values()}
        await produce(kafka_conn, INGRESS_TOPIC, [(code.encode(), raw) for code, (_, raw) in more.items()])
        records = await read_until(kafka_conn, start, lambda rs: more_ids <= {r.key for r in rs}, bus=second)
        assert more_ids <= {r.key for r in records}, logs()
        lag = await _lag(kafka_conn, app_id)
        for _ in range(50):  # the last batch's commit follows its outputs
            if not any(lag.values()):
                break
            await asyncio.sleep(0.2)
            lag = await _lag(kafka_conn, app_id)
    finally:
        traffic.cancel()
        for worker in workers:
            worker.stop()
    refused = [q for q in quarantined(records, app_id) if q.message_id and q.message_id.encode() in ids]
    assert refused == [], [(q.reason, q.detail) for q in refused]
    assert lag == dict.fromkeys(lag, 0), f"committed offsets behind the end after draining: {lag}"
    # every copy routed again is the same message id, kept once by the inbox; the kill redoes at
    # most the two batches in flight (the one being finished, the one being decided) per partition
    redone = sum(seen.values()) - len(seen)
    partitions = len(await end_offsets(kafka_conn, [INGRESS_TOPIC]))
    assert redone <= 2 * partitions * BATCH, f"{redone} copies routed twice at the kill"


RECIPIENT = "G03.U001"  # answers every envelope with its 01 (a university: never revoked by a test)
PER_PHASE = 30  # envelopes per sender in each phase


async def _flow(kafka: KafkaConnection, records: Iterator[tuple[str, bytes, bytes]]) -> None:
    """Load, not synchronisation: envelopes and receipts, about 150 records a second, until
    ``records`` ends."""
    producer = AIOKafkaProducer(**kafka.client_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = []
        for i, (topic, key, raw) in enumerate(records):
            futures.append(await producer.send(topic, raw, key=key))
            if i % 15 == 14:
                await asyncio.sleep(0.1)
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


Phase = list[tuple[bytes, Envelope, bytes]]  # (ingress key, envelope, wire bytes)


def _phase(chains: dict[str, Sender]) -> Phase:
    """PER_PHASE envelopes of each sender to RECIPIENT, round robin over the senders."""
    built = {code: [chain.envelope((RECIPIENT,)) for _ in range(PER_PHASE)] for code, chain in chains.items()}
    return [(code.encode(), *built[code][i]) for i in range(PER_PHASE) for code in chains]


async def test_receipts_and_envelopes_through_a_worker_added_then_one_killed(
    kafka_conn: KafkaConnection, published: World, tmp_path: Path
) -> None:
    """Envelopes and the recipient's 01 receipts flow while a second worker joins and then the first
    is killed; a receipt sent after each rebalance is forwarded too (after a join, the receipts
    agent of a worker once stopped deciding for good, silently). Every envelope reaches the
    recipient and every receipt its document's sender, nothing is refused, nothing is forwarded
    twice across the join (a rebalance is a normal path: the batches in hand are finished and
    committed before the partitions move), and across the kill every copy is the same
    message id again (ADR 0001: at-least-once, deduplicated by id downstream), at most the
    batches in flight; the committed offsets of ingress and receipts reach their ends."""
    chains = {code: published.sender(code) for code in SENDERS}
    arrived: dict[str, bytes] = {}  # envelope id -> its recipient's 01

    def built(phase: Phase) -> Phase:
        for key, env, _ in phase:
            arrived[env.message_id] = answer(published, RECIPIENT, env, StatusCode.ARRIVED, to=key.decode())
        return phase

    first = built(_phase(chains))
    second: Phase = []  # sent while the second worker joins, for as long as that takes
    third: Phase = []  # each sender's chain goes on after the second phase
    app_id = f"docbus-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    inboxes = [inbox_topic(code) for code in (RECIPIENT, *SENDERS)]
    start = await end_offsets(kafka_conn, [*inboxes, QUARANTINE_TOPIC])
    workers = []
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        env = {**bus_env(kafka_conn, published, home, app_id), "DOCBUS_BATCH_SIZE": str(BATCH)}
        workers.append(BusProcess(env, home / "bus.log"))
    a, b = workers

    def logs() -> str:
        return "\n".join(f"--- {w.log}\n{w.log.read_text()[-3000:]}" for w in workers)

    senders = {inbox_topic(code) for code in SENDERS}

    def sent() -> set[bytes]:
        return {raw for phase in (first, second, third) for _, _, raw in phase}

    def routed(records: Records) -> Counter[bytes]:
        raws = sent()
        return Counter(r.value for r in records if r.topic == inbox_topic(RECIPIENT) and r.value in raws)

    def forwarded(records: Records) -> Counter[bytes]:
        answers = set(arrived.values())
        return Counter(r.value for r in records if r.topic in senders and r.value in answers)

    def receipts(phase: Phase) -> list[tuple[str, bytes, bytes]]:
        return [(RECEIPTS_TOPIC, key, arrived[env.message_id]) for key, env, _ in phase]

    def envelopes(phase: Phase) -> list[tuple[str, bytes, bytes]]:
        return [(INGRESS_TOPIC, key, raw) for key, _, raw in phase]

    def done(sent: list[Phase], answered: list[Phase]) -> Callable[[Records], bool]:
        raws = {raw for phase in sent for _, _, raw in phase}
        answers = {arrived[env.message_id] for phase in answered for _, env, _ in phase}
        return lambda rs: raws <= set(routed(rs)) and answers <= set(forwarded(rs))

    joined = asyncio.Event()

    def across_the_join() -> Iterator[tuple[str, bytes, bytes]]:
        """The first phase's receipts and new envelopes, one of each in turn, until every receipt
        is sent and the group is stable with both workers: records are in flight at the rebalance."""
        pending = iter(receipts(first))
        while True:
            for code, chain in chains.items():
                env, raw = chain.envelope((RECIPIENT,))
                (phase,) = built([(code.encode(), env, raw)])
                second.append(phase)
                yield INGRESS_TOPIC, code.encode(), raw
                receipt = next(pending, None)
                if receipt is not None:
                    yield receipt
                elif joined.is_set():
                    return

    a.start()
    traffic: asyncio.Future[None] | None = None
    try:
        await produce(kafka_conn, INGRESS_TOPIC, [(key, raw) for _, key, raw in envelopes(first)])
        records = await read_until(kafka_conn, start, done([first], []), bus=a)
        assert done([first], [])(records), logs()
        traffic = asyncio.ensure_future(_flow(kafka_conn, across_the_join()))
        b.start()
        await _joined(kafka_conn, app_id, 2, logs)
        joined.set()
        await traffic
        # sent after the join: the second phase's receipts, decided wherever their partitions are now
        await produce(kafka_conn, RECEIPTS_TOPIC, [(key, raw) for _, key, raw in receipts(second)])
        records = await read_until(kafka_conn, start, done([first, second], [first, second]))
        assert done([first, second], [first, second])(records), logs()
        twice = [n for n in (routed(records) + forwarded(records)).values() if n > 1]
        assert twice == [], f"{len(twice)} forwarded twice across the join\n{logs()}"
        a.kill()  # its partitions move to the survivor, which redoes at most the batches in flight
        third += built(_phase(chains))
        await _flow(kafka_conn, iter(envelopes(third)))
        phases = [first, second, third]
        records = await read_until(kafka_conn, start, done(phases, [first, second]), bus=b)
        assert done(phases, [first, second])(records), logs()
        # answered after the kill: every receipt of the last phase on the survivor
        await produce(kafka_conn, RECEIPTS_TOPIC, [(key, raw) for _, key, raw in receipts(third)])
        records = await read_until(kafka_conn, start, done(phases, phases), bus=b)
        assert done(phases, phases)(records), logs()
        behind = await lag(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
        for _ in range(50):  # the last batch's commit follows its outputs
            if not any(behind.values()):
                break
            await asyncio.sleep(0.2)
            behind = await lag(kafka_conn, app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    finally:
        if traffic is not None:
            traffic.cancel()
        for worker in workers:
            worker.stop()
    # the join and the kill rebalanced both agents of the survivor, and it stopped: none of it a crash
    assert "Crashed" not in b.log.read_text(), logs()
    refused = [
        (q.reason, q.detail) for q in quarantined(records, app_id) if q.raw in sent() | set(arrived.values())
    ]
    assert refused == [], refused
    assert behind == dict.fromkeys(behind, 0), f"committed offsets behind the end after draining: {behind}"
    again = sum(routed(records).values()) - len(routed(records))
    again += sum(forwarded(records).values()) - len(forwarded(records))
    partitions = len(await end_offsets(kafka_conn, [INGRESS_TOPIC]))
    assert again <= 2 * 2 * partitions * BATCH, f"{again} records forwarded twice at the kill"
