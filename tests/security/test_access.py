"""Access control on the real broker: mTLS identities from the PKI, ACLs from topics.toml."""

from __future__ import annotations

import asyncio
import ssl
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from tests.security.conftest import AUDIT_WRITER, ORG_A, ORG_B, PROCESSOR, Secured

pytestmark = pytest.mark.broker

INGRESS = "docbus.ingress"
RECEIPTS = "docbus.receipts"


def inbox(code: str) -> str:
    return f"docbus.inbox.{code}"


def producer(world: Secured, who: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=world.bootstrap, acks="all", enable_idempotence=True,
        request_timeout_ms=10_000, **world.security(who),
    )  # fmt: skip


def consumer(world: Secured, who: str, *topics: str, group: str | None) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics, bootstrap_servers=world.bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest", request_timeout_ms=10_000, **world.security(who),
    )  # fmt: skip


async def produce(world: Secured, who: str, topic: str, value: bytes) -> int:
    p = producer(world, who)
    try:
        await p.start()
        return (await p.send_and_wait(topic, value, key=who.encode())).offset
    finally:
        await p.stop()


async def read_until(c: AIOKafkaConsumer, value: bytes, timeout: float = 20.0) -> bool:
    """Poll until ``value`` is read (True) or the deadline passes (False)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        batches = await c.getmany(timeout_ms=500)
        if any(r.value == value for recs in batches.values() for r in recs):
            return True
    return False


async def poll_once(c: AIOKafkaConsumer) -> None:
    """Start the consumer and poll until the broker answers (an authorization error raises)."""
    try:
        await c.start()
        deadline = asyncio.get_running_loop().time() + 20.0
        while asyncio.get_running_loop().time() < deadline:
            await c.getmany(timeout_ms=500)
    finally:
        await c.stop()


def test_org_writes_ingress_and_receipts_and_reads_its_own_inbox(secured: Secured) -> None:
    marker = uuid.uuid4().hex.encode()

    async def scenario() -> None:
        await produce(secured, ORG_A, INGRESS, b"envelope " + marker)
        await produce(secured, ORG_A, RECEIPTS, b"receipt " + marker)
        # the processors read ingress and deliver into the recipient's inbox
        bus = consumer(secured, PROCESSOR, INGRESS, group=f"docbus-test-{marker.decode()[:8]}")
        await bus.start()
        try:
            assert await read_until(bus, b"envelope " + marker)
        finally:
            await bus.stop()
        await produce(secured, PROCESSOR, inbox(ORG_A), b"delivered " + marker)
        mine = consumer(secured, ORG_A, inbox(ORG_A), group=f"docbus-inbox-{ORG_A}")
        await mine.start()
        try:
            assert await read_until(mine, b"delivered " + marker)
            await mine.commit()  # its own group: committing offsets is allowed too
        finally:
            await mine.stop()

    asyncio.run(scenario())


def test_org_cannot_read_another_orgs_inbox(secured: Secured) -> None:
    async def scenario() -> None:
        await produce(secured, PROCESSOR, inbox(ORG_B), b"for B only")
        # B's inbox under A's own group: the topic is refused
        with pytest.raises(TopicAuthorizationFailedError):
            await poll_once(consumer(secured, ORG_A, inbox(ORG_B), group=f"docbus-inbox-{ORG_A}"))
        # B's inbox under B's group: the group is refused
        with pytest.raises((GroupAuthorizationFailedError, TopicAuthorizationFailedError)):
            await poll_once(consumer(secured, ORG_A, inbox(ORG_B), group=f"docbus-inbox-{ORG_B}"))
        # no group at all, partition assigned by hand: the broker hides the topic's metadata, so
        # there is no leader to fetch from and the record written above never arrives
        c = consumer(secured, ORG_A, group=None)
        await c.start()
        try:
            c.assign([TopicPartition(inbox(ORG_B), 0)])
            assert not await read_until(c, b"for B only", timeout=5.0)
            assert inbox(ORG_B) in c._client.cluster.unauthorized_topics
        finally:
            await c.stop()

    asyncio.run(scenario())


def test_org_reads_its_own_documents_status_and_nobody_elses(secured: Secured) -> None:
    """docbus.status.<org> holds the status of the documents <org> sent: that org reads it with its
    own login, another org cannot, and docbus.status (everyone's) is the processors' and the operator's."""

    async def scenario() -> None:
        tag = uuid.uuid4().hex[:8].encode()
        await produce(secured, PROCESSOR, f"docbus.status.{ORG_A}", b"A's status " + tag)
        await produce(secured, PROCESSOR, f"docbus.status.{ORG_B}", b"B's status " + tag)
        await produce(secured, PROCESSOR, "docbus.status", b"everyone's " + tag)
        mine = consumer(secured, ORG_A, group=None)
        await mine.start()
        try:
            mine.assign([TopicPartition(f"docbus.status.{ORG_A}", 0)])
            await mine.seek_to_beginning()
            assert await read_until(mine, b"A's status " + tag)
        finally:
            await mine.stop()
        for topic, value in ((f"docbus.status.{ORG_B}", b"B's status "), ("docbus.status", b"everyone's ")):
            c = consumer(secured, ORG_A, group=None)
            await c.start()
            try:
                c.assign([TopicPartition(topic, 0)])
                assert not await read_until(c, value + tag, timeout=5.0)
                assert topic in c._client.cluster.unauthorized_topics
            finally:
                await c.stop()

    asyncio.run(scenario())


AROUND_THE_BUS = [
    inbox(ORG_A),  # its own inbox too: a copy the bus never decided (bypass)
    inbox(ORG_B),
    "docbus.directory",
    "docbus.status",  # a forged acknowledgement
    f"docbus.status.{ORG_A}",  # ... in its own status view
    "docbus.quarantine",
    "docbus.audit.events",  # a forged audit draft
    "docbus.audit",  # a record appended to the chain
    "docbus.checkpoints",
]


@pytest.mark.parametrize("topic", AROUND_THE_BUS)
def test_org_cannot_write_around_the_bus(secured: Secured, topic: str) -> None:
    """Straight into an inbox, or forging directory entries, status, quarantine or the audit trail."""
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(produce(secured, ORG_A, topic, b"forged"))


@pytest.mark.parametrize("topic", ["docbus.audit", "docbus.checkpoints"])
def test_only_the_audit_writer_appends_to_the_chain(secured: Secured, topic: str) -> None:
    """The processors own every other docbus topic, but are denied the chain and its checkpoints."""
    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(produce(secured, PROCESSOR, topic, b"forged"))
    assert asyncio.run(produce(secured, AUDIT_WRITER, topic, b"appended")) >= 0


def test_org_cannot_read_ingress_of_other_senders(secured: Secured) -> None:
    async def scenario() -> None:
        await poll_once(consumer(secured, ORG_A, INGRESS, group=f"docbus-inbox-{ORG_A}"))

    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(scenario())


def test_client_without_certificate_cannot_connect(secured: Secured) -> None:
    ctx = ssl.create_default_context(cafile=str(secured.tls[ORG_A].ca))  # trusts the broker, no cert

    async def scenario() -> None:
        p = AIOKafkaProducer(
            bootstrap_servers=secured.bootstrap, security_protocol="SSL", ssl_context=ctx,
            request_timeout_ms=5_000,
        )  # fmt: skip
        with pytest.raises(KafkaConnectionError):
            await p.start()
        await p.stop()

    asyncio.run(scenario())


def test_plaintext_client_cannot_use_the_tls_listener(secured: Secured) -> None:
    async def scenario() -> None:
        p = AIOKafkaProducer(bootstrap_servers=secured.bootstrap, request_timeout_ms=5_000)
        with pytest.raises(KafkaConnectionError):
            await p.start()
        await p.stop()

    asyncio.run(scenario())
