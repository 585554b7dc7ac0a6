"""The one directory reader on the real broker, as the bus holds it (one consumer kept open) and as
a node does (one per read): sealed entries build the publisher's snapshot, a later version makes a
new one while the old stays routable, an entry with a bad seal is refused, and so is one whose seal
is dated more than a day before the broker stored it; a catch-up reads only what is new."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from docbus.directory_load import publish_entries, seal_entries
from docbus.pki_folder import TrustFiles
from producers.directory_view import DirectoryView, verify_entry
from producers.keys import make_signature
from producers.reader import read_to_end
from schemas.connection import KafkaConnection
from schemas.directory import directory_entry_signing_input
from schemas.directory_store import DirectorySnapshot, DirectoryStore
from schemas.errors import ContractError
from schemas.fields import from_millis
from schemas.reasons import Reason
from schemas.signature import SignerRole
from tests.bus.world import World

pytestmark = pytest.mark.broker


@pytest.mark.parametrize("keep_open", [True, False], ids=["bus", "node"])
async def test_reader_catches_up_and_refuses_unsealed_entries(
    kafka_conn: KafkaConnection, world: World, unique: Callable[[str], str], keep_open: bool
) -> None:
    topic = unique("directory")
    admin = AIOKafkaAdminClient(**kafka_conn.client_kwargs())
    await admin.start()
    try:
        configs = {"cleanup.policy": "compact", "message.timestamp.type": "LogAppendTime"}  # as the spec's
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=configs)])
    finally:
        await admin.close()
    store = DirectoryStore()
    policy = TrustFiles(world.pki).policy
    feed = DirectoryView(kafka_conn, store=store, policy=policy, topic=topic, keep_open=keep_open)
    try:
        await publish_entries(kafka_conn, world.entries, topic)
        assert await feed.catch_up(10) == len(world.entries)
        assert store.current is not None and store.current.hash == world.snapshot

        old = next(e for e in world.entries if e.code == "G03.U003")
        renamed = old.model_copy(
            update={"name": "Trường Đại học mới", "version": 2, "updated_at": datetime.now(UTC)}
        )
        [sealed] = seal_entries([renamed], world.identities["G03"].seal)
        unsealed = old.model_copy(update={"name": "Giả mạo", "version": 3, "signatures": []})
        forged = sealed.model_copy(update={"code": "G03.U002"})  # the seal covers the code
        await publish_entries(kafka_conn, [sealed, unsealed, forged], topic)
        assert await feed.catch_up(10) == 1 and feed.refused == 2
        expected = DirectorySnapshot.build([*world.entries, sealed]).hash
        assert store.current.hash == expected
        assert store.get(world.snapshot) is not None  # envelopes of the previous snapshot still route
        assert await feed.catch_up(10) == 0  # nothing new: nothing read, nothing changed
        assert store.hashes() == [world.snapshot, expected]

        # a seal dated two days back (an expired authority key backdating its way in): the broker's
        # append time shows when it really arrived
        now = datetime.now(UTC)
        late = old.model_copy(update={"name": "Trễ hạn", "version": 4, "updated_at": now - timedelta(days=3)})
        seal = make_signature(world.identities["G03"].seal, SignerRole.ORGANIZATION,
                              directory_entry_signing_input(late), at=now - timedelta(days=2))  # fmt: skip
        backdated = late.model_copy(update={"signatures": [seal]})
        await publish_entries(kafka_conn, [backdated], topic)
        assert await feed.catch_up(10) == 0 and feed.refused == 3
        assert store.current.hash == expected
        record = (await read_to_end(kafka_conn, topic))[-1]  # one partition: the last one published
        assert record.timestamp_type == 1  # LogAppendTime: stamped by the broker
        with pytest.raises(ContractError) as refused:
            verify_entry(record.value or b"", TrustFiles(world.pki).policy, "G03", now,
                         from_millis(record.timestamp))  # fmt: skip
        assert refused.value.reason is Reason.STALE and "more than" in refused.value.detail
    finally:
        await feed.stop()
