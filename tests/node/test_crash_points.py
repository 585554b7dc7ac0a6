"""Crash injection on the real broker (issue 13, docs/adr/0003-continuity.md): ``docbus send`` is
killed with ``os._exit`` at every write point of build / send / resend / flush (one subprocess per
point, producers/faults.py) and started again. Every document is delivered exactly once and the next
send is accepted — also with a second product of the org sending concurrently in its own channel, a
record keyed other than by the sender's code, and a state folder lost or rolled back to an old copy."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from docbus.pki_folder import trust_policy_from_pki
from producers.faults import CRASH_EXIT, CRASH_POINTS
from producers.identity import NodeIdentity
from producers.resync import read_positions
from schemas.connection import KafkaConnection
from schemas.receipt import StatusCode
from schemas.topics import INGRESS_TOPIC, inbox_topic
from tests.bus.kafka import bus_notices, end_offsets, produce, read_until
from tests.bus.world import PASSPHRASE, Sender
from tests.node.crash import CliSender, delivered, new_number
from tests.node.test_end_to_end import Dispatch, dispatch

__all__ = ["dispatch"]  # the module's bus, PKI and home (tests/node/test_end_to_end.py)

pytestmark = pytest.mark.broker

FROM, TO = "G03.U001", "G03.U002"
Records = list[ConsumerRecord[bytes, bytes]]
# the points one plain send passes; flush.published and resync.adopted need a state to repair first
SEND_POINTS = [p for p in CRASH_POINTS if p not in ("flush.published", "resync.adopted")]


@pytest.fixture
def node(dispatch: Dispatch) -> CliSender:
    return CliSender(dispatch.env, dispatch.home, FROM, TO, dispatch.bus.log, dispatch.bus.app_id)


@pytest.mark.parametrize("point", SEND_POINTS)
async def test_a_send_killed_at_each_write_point_then_restarted_delivers_once(
    kafka_conn: KafkaConnection, node: CliSender, tmp_path: Path, point: str
) -> None:
    start = await end_offsets(kafka_conn, [inbox_topic(TO)])
    first, after = new_number(), new_number()
    node.send(tmp_path, first, crash=point)
    if point == "send.signed":  # killed before anything was written: the clerk sends it again
        node.send(tmp_path, first)
    node.send(tmp_path, after)  # the restarted node first publishes what the outbox holds
    assert await delivered(kafka_conn, start, node, {first, after}) == {first: 1, after: 1}
    assert not list((node.state / "outbox" / FROM).glob("*.bin"))


async def test_a_kill_while_flushing_the_outbox_then_restarted_delivers_once(
    kafka_conn: KafkaConnection, node: CliSender, tmp_path: Path
) -> None:
    start = await end_offsets(kafka_conn, [inbox_topic(TO)])
    a, b, c = new_number(), new_number(), new_number()
    node.send(tmp_path, a, crash="commit.state")  # a numbered, never published
    node.send(tmp_path, b, crash="flush.published")  # a published by the next send, which dies
    node.send(tmp_path, b)  # b was never built: the clerk sends it again
    node.send(tmp_path, c)
    assert await delivered(kafka_conn, start, node, {a, b, c}) == {a: 1, b: 1, c: 1}


async def test_a_state_folder_rolled_back_resyncs_itself_from_the_bus_notice(
    kafka_conn: KafkaConnection, node: CliSender, tmp_path: Path
) -> None:
    start = await end_offsets(kafka_conn, [inbox_topic(TO)])
    numbers = [new_number() for _ in range(5)]
    node.send(tmp_path, numbers[0])
    backup = tmp_path / "backup"
    shutil.copytree(node.state, backup)  # last night's backup
    node.send(tmp_path, numbers[1])
    node.send(tmp_path, numbers[2])
    shutil.rmtree(node.state)
    shutil.copytree(backup, node.state)  # restored: two envelopes behind the bus
    node.send(tmp_path, numbers[3])  # refused as not counted, resynced, signed again: accepted
    # killed right after adopting the bus's position, before signing the document again: the next
    # send goes on from that position and first signs the refused document again (its 02 is in the
    # inbox), so the clerk sends only the next one
    shutil.rmtree(node.state)
    shutil.copytree(backup, node.state)
    node.send(tmp_path, numbers[4], crash="resync.adopted")
    last = new_number()
    out = node.send(tmp_path, last)
    assert "signed again" in out, out
    got = await delivered(kafka_conn, start, node, {*numbers, last})
    assert got == dict.fromkeys([*numbers, last], 1)


async def test_a_no_wait_send_from_a_rolled_back_folder_recovers_at_the_next_send(
    kafka_conn: KafkaConnection, node: CliSender, dispatch: Dispatch, tmp_path: Path
) -> None:
    """``docbus send --no-wait`` from a state folder restored from an old backup: the bus refuses
    the envelope as not counted (a sealed 02) and nobody waits for the notice. The channel's next
    send — itself not waiting — reads the notices first, takes the bus's position, signs the refused
    document again and then its own: every document delivered once, no operator."""
    start = await end_offsets(kafka_conn, [inbox_topic(TO), inbox_topic(FROM)])
    kept, between, lost, nxt, last = (new_number() for _ in range(5))
    node.send(tmp_path, kept)
    backup = tmp_path / "backup"
    shutil.copytree(node.state, backup)
    node.send(tmp_path, between)
    shutil.rmtree(node.state)
    shutil.copytree(backup, node.state)  # one envelope behind the bus
    published = node.send(tmp_path, lost, wait=False)
    mid = re.search(r"message id\s+(\S+)", published)
    assert mid is not None, published

    def refused(records: Records) -> list[str]:
        found = bus_notices(records, dispatch.world)
        return [n.reason for n in found if n.envelope_id == mid[1] and n.status is StatusCode.REJECTED]

    records = await read_until(kafka_conn, start, lambda rs: bool(refused(rs)))  # nobody waited for it
    assert refused(records)[0].split(":")[0] in ("SEQUENCE_GAP", "REPLAY"), refused(records)
    out = node.send(tmp_path, nxt, wait=False)
    assert f"signed again {mid[1]}" in " ".join(out.split()), out
    node.send(tmp_path, last)  # waits: accepted at once
    got = await delivered(kafka_conn, start, node, {kept, between, lost, nxt, last})
    assert got == dict.fromkeys([kept, between, lost, nxt, last], 1)


async def test_a_lost_state_folder_and_docbus_node_resync(
    kafka_conn: KafkaConnection, node: CliSender, tmp_path: Path
) -> None:
    start = await end_offsets(kafka_conn, [inbox_topic(TO)])
    a, b = new_number(), new_number()
    node.send(tmp_path, a)
    held = (node.state / f"{FROM}.state.json").read_text().split('"updated_at"')[0]
    shutil.rmtree(node.state)  # the disk is gone
    resynced = node.docbus("node", "resync", "--org", FROM)
    assert resynced.returncode == 0, resynced.stdout + resynced.stderr
    assert "state folder: sequence 0" in resynced.stdout, resynced.stdout
    assert "adopted the bus's position" in resynced.stdout, resynced.stdout
    assert (node.state / f"{FROM}.state.json").read_text().split('"updated_at"')[0] == held
    again = node.docbus("node", "resync", "--org", FROM)
    assert "in sync: nothing changed" in again.stdout, again.stdout + again.stderr
    shown = json.loads(node.docbus("node", "resync", "--org", FROM, "--json").stdout)
    assert shown["adopted"] is False and shown["bus"]["sequence"] == shown["local"]["sequence"] > 0
    out = node.send(tmp_path, b)
    assert "rejected" not in out
    assert await delivered(kafka_conn, start, node, {a, b}) == {a: 1, b: 1}


async def test_node_resync_streams_the_inbox_keeping_the_newest_notice_of_each_channel(
    kafka_conn: KafkaConnection, node: CliSender, tmp_path: Path
) -> None:
    """``docbus node resync`` reads an inbox that holds every document the org received: it keeps
    one notice per channel while it streams (not the whole topic), the furthest of each."""
    for number, channel in [(new_number(), ""), (new_number(), "stream"), (new_number(), "")]:
        node.send(tmp_path, number, channel=channel)
    policy = trust_policy_from_pki(Path(node.env["DOCBUS_PKI_DIR"]))
    kept = await read_positions(kafka_conn, FROM, policy, timeout=60)
    by_channel = {n.chain.channel: n.chain.sequence for n in kept if n.chain is not None}
    assert len(kept) == len(by_channel) and {"", "stream"} <= set(by_channel), kept
    held = [json.loads((node.state / f"{FROM}{tail}.state.json").read_text()) for tail in ("", "+stream")]
    assert (by_channel[""], by_channel["stream"]) == (held[0]["sequence"], held[1]["sequence"])


async def test_a_second_product_sends_concurrently_in_its_own_channel_and_survives_a_kill(
    kafka_conn: KafkaConnection, node: CliSender, tmp_path: Path
) -> None:
    start = await end_offsets(kafka_conn, [inbox_topic(TO)])
    cli = [new_number() for _ in range(3)]
    office = [new_number() for _ in range(3)]
    crashed = node.start(tmp_path, office[0], channel="eoffice", crash="commit.state")
    procs = [node.start(tmp_path, n) for n in cli[:2]]
    node.finish(crashed, CRASH_EXIT)
    procs += [node.start(tmp_path, n, channel="eoffice") for n in office[1:]]
    procs.append(node.start(tmp_path, cli[2]))
    for proc in procs:  # each product numbers its own chain: none wedges the other
        node.finish(proc)
    got = await delivered(kafka_conn, start, node, {*cli, *office})
    assert got == dict.fromkeys([*cli, *office], 1)
    assert (node.state / f"{FROM}+eoffice.state.json").is_file()


async def test_two_products_sharing_a_channel_from_two_folders_resync_instead_of_wedging(
    kafka_conn: KafkaConnection, node: CliSender, tmp_path: Path
) -> None:
    """A misconfigured second product: the default channel, but its own state folder. Each send of
    one product finds the bus further than its folder, is refused as not counted, resyncs from the
    sealed 02 and is accepted — slower than a channel of its own, never wedged."""
    home = tmp_path / "eoffice-home"
    other = CliSender({**node.env, "DOCBUS_HOME": str(home)}, home, FROM, TO, node.bus_log, node.group)
    start = await end_offsets(kafka_conn, [inbox_topic(TO)])
    numbers = [new_number() for _ in range(4)]
    for i, number in enumerate(numbers):
        (node if i % 2 == 0 else other).send(tmp_path, number)
    assert await delivered(kafka_conn, start, node, set(numbers)) == dict.fromkeys(numbers, 1)


async def test_records_keyed_other_than_by_the_sender_lose_nothing(
    kafka_conn: KafkaConnection, dispatch: Dispatch
) -> None:
    """A third-party product publishing with random record keys: every envelope is refused
    RECORD_KEY with a sealed 02 and counted nowhere; published again keyed by the sender's code,
    every one is accepted in order, and the product's next envelope too."""
    ident = NodeIdentity.from_pki(dispatch.world.pki, TO, PASSPHRASE, "*")
    vendor = Sender(ident, dispatch.world.snapshot, channel=f"vendor-{uuid.uuid4().hex[:6]}")
    built = [vendor.envelope((FROM,)) for _ in range(10)]
    ids = {env.message_id for env, _ in built}
    start = await end_offsets(kafka_conn, [inbox_topic(TO), inbox_topic(FROM)])

    def notices(records: Records, status: StatusCode) -> dict[str, str]:
        found = bus_notices(records, dispatch.world)
        return {n.envelope_id: n.reason for n in found if n.envelope_id in ids and n.status is status}

    await produce(kafka_conn, INGRESS_TOPIC, [(os.urandom(8).hex().encode(), raw) for _, raw in built])
    records = await read_until(kafka_conn, start, lambda rs: len(notices(rs, StatusCode.REJECTED)) == 10)
    refused = notices(records, StatusCode.REJECTED)
    assert len(refused) == 10 and all(r.startswith("RECORD_KEY: ") for r in refused.values()), refused
    await produce(kafka_conn, INGRESS_TOPIC, [(TO.encode(), raw) for _, raw in built])
    nxt, raw = vendor.envelope((FROM,))
    ids.add(nxt.message_id)
    await produce(kafka_conn, INGRESS_TOPIC, [(TO.encode(), raw)])
    records = await read_until(kafka_conn, start, lambda rs: len(notices(rs, StatusCode.ARRIVED)) == 11)
    assert set(notices(records, StatusCode.ARRIVED)) == ids
    copies = Counter(r.key for r in records if r.topic == inbox_topic(FROM) and r.key is not None)
    assert all(copies[mid.encode()] == 1 for mid in ids)
