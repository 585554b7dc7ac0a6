"""The long-running clients' metadata refresh (producers/failover.py, FailoverClient), against the
real test broker behind a TCP relay that can stop answering while it keeps its connections open:
what a client sees of a paused broker (SIGSTOP) or a frozen host. A broker whose request timed out
is asked for metadata after the others, and a metadata request to a broker that hangs gives up
after METADATA_TIMEOUT_S instead of the client's whole request timeout. The paused broker itself,
on the 3-node cluster: tests/faults/test_faults.py and the benchmark's ``bus.recovery``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import NodeNotReadyError, RequestTimedOutError
from aiokafka.protocol.metadata import MetadataRequest, MetadataResponse_v0

from consumers.bus.clients import admin, consumer, producer
from producers import failover
from producers.failover import FailoverClient, long_running_consumer, with_failover
from producers.publisher import Publisher
from schemas.connection import KafkaConnection

pytestmark = pytest.mark.broker

HUNG, DIRECT = 101, 102  # node ids the tests give the relay and the broker itself


class _Relay:
    """Relays bytes to the test broker until ``hung`` is set; from then on takes them and passes
    nothing on. Counts the connections it took."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.hung = asyncio.Event()
        self.taken_while_hung = 0
        self.connections = 0
        self.held: list[asyncio.StreamWriter] = []

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.hung.is_set():
                    self.taken_while_hung += len(chunk)
                    continue
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the test ended: the relay closes

    async def take(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.held.append(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            self.held.append(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (ConnectionError, asyncio.CancelledError):
            pass  # the test ended: the relay closes


@pytest.fixture
async def relay(kafka_conn: KafkaConnection) -> AsyncIterator[tuple[_Relay, str, int]]:
    proxy = _Relay(kafka_conn.bootstrap.split(",")[0])
    server = await asyncio.start_server(proxy.take, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        yield proxy, host, port
    finally:
        for writer in proxy.held:
            writer.close()
        server.close()
        await server.wait_closed()


def _client(kafka: KafkaConnection, relay: tuple[_Relay, str, int], timeout_ms: int) -> FailoverClient:
    """A client that bootstraps through the relay; each test sets the brokers it knows (_knows)."""
    _, host, port = relay
    return FailoverClient(**{**kafka.client_kwargs(), "bootstrap_servers": f"{host}:{port}"},
                          request_timeout_ms=timeout_ms)  # fmt: skip


def _knows(client: FailoverClient, *nodes: tuple[int, str, int]) -> None:
    client.cluster.update_metadata(MetadataResponse_v0(brokers=list(nodes), topics=[]))


async def test_a_broker_whose_request_timed_out_is_asked_for_metadata_after_the_others(
    kafka_conn: KafkaConnection, relay: tuple[_Relay, str, int]
) -> None:
    proxy, host, port = relay
    b_host, _, b_port = kafka_conn.bootstrap.split(",")[0].rpartition(":")
    client = _client(kafka_conn, relay, timeout_ms=1000)
    _knows(client, (HUNG, host, port), (DIRECT, b_host, int(b_port)))
    try:
        assert (await client.send(HUNG, MetadataRequest([]))).brokers  # the relay passes it on
        proxy.hung.set()
        with pytest.raises(RequestTimedOutError):
            await client.send(HUNG, MetadataRequest([]))
        assert client.suspected(HUNG) and not client.suspected(DIRECT)
        # the timed-out connection is closed (aiokafka): asking the relay again takes a new one
        connections = proxy.connections
        for _ in range(5):  # aiokafka's own order is random: one in two would ask the relay first
            _knows(client, (HUNG, host, port), (DIRECT, b_host, int(b_port)))
            assert await client._metadata_update(client.cluster, [])
        assert proxy.connections == connections  # the hung broker was not asked
    finally:
        await client.close()


async def test_a_metadata_request_to_a_hung_broker_gives_up_before_the_request_timeout(
    kafka_conn: KafkaConnection, relay: tuple[_Relay, str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hung broker is the only one known and not suspected yet: its metadata request waits
    METADATA_TIMEOUT_S (here 0.5 s), not the client's request timeout (here 60 s)."""
    monkeypatch.setattr(failover, "METADATA_TIMEOUT_S", 0.5)
    proxy, host, port = relay
    client = _client(kafka_conn, relay, timeout_ms=60_000)
    _knows(client, (HUNG, host, port))
    try:
        assert (await client.send(HUNG, MetadataRequest([]))).brokers
        proxy.hung.set()
        updated = await asyncio.wait_for(client._metadata_update(client.cluster, []), timeout=30)
        assert updated is False and client.suspected(HUNG)
        assert proxy.taken_while_hung > 0  # it was asked, and did not answer
    finally:
        await client.close()


async def test_a_suspected_broker_the_cluster_no_longer_lists_is_not_connected_to_again(
    kafka_conn: KafkaConnection, relay: tuple[_Relay, str, int]
) -> None:
    """A broker whose request timed out and that the controller fenced since (the metadata the
    cluster gives no longer lists it): a request for it fails at once, NodeNotReadyError, without a
    connect that a hung broker would hold for a request timeout."""
    proxy, host, port = relay
    client = FailoverClient(**kafka_conn.client_kwargs(), request_timeout_ms=60_000)
    await client.bootstrap()
    try:
        _knows(client, (HUNG, host, port), *[(b.nodeId, b.host, b.port) for b in client.cluster.brokers()])
        client.suspect(HUNG)
        with pytest.raises(NodeNotReadyError, match="no longer lists it"):
            await asyncio.wait_for(client.send(HUNG, MetadataRequest([])), timeout=30)
        assert proxy.connections == 0
    finally:
        await client.close()


async def test_a_suspected_broker_still_listed_is_asked_and_is_no_longer_suspected_once_it_answers(
    kafka_conn: KafkaConnection,
) -> None:
    client = FailoverClient(**kafka_conn.client_kwargs(), request_timeout_ms=60_000)
    await client.bootstrap()
    try:
        (node,) = [b.nodeId for b in client.cluster.brokers()]
        client.suspect(node)
        assert (await client.send(node, MetadataRequest([]))).brokers
        assert not client.suspected(node)
    finally:
        await client.close()


async def test_the_bus_clients_and_any_wrapped_client_fail_over() -> None:
    kafka = KafkaConnection(bootstrap="127.0.0.1:9")
    made = [producer(kafka), consumer(kafka), admin(kafka)]
    made += [with_failover(AIOKafkaProducer(bootstrap_servers="127.0.0.1:9"))]
    made += [with_failover(AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9"))]
    try:
        inner = [getattr(c, "client", None) or c._client for c in made]
        assert [type(c) for c in inner] == [FailoverClient] * len(made)
    finally:
        for client in made:
            await (client.close() if client is made[2] else client.stop())


async def test_the_inbox_s_receipt_publisher_is_a_long_running_client_and_a_one_shot_send_is_not(
    kafka_conn: KafkaConnection,
) -> None:
    async with Publisher(kafka_conn, long_running=True) as lasting, Publisher(kafka_conn) as once:
        inner = [p._producer.client for p in (lasting, once) if p._producer is not None]
        assert [type(c) for c in inner] == [FailoverClient, AIOKafkaClient]
        timeouts = [(c._request_timeout_ms, c._metadata_max_age_ms) for c in inner]
        assert timeouts == [(10_000, 5_000), (30_000, 300_000)]
    # the caller's own options win over the long-running ones
    reader = long_running_consumer(kafka_conn, request_timeout_ms=20_000, metadata_max_age_ms=1_000)
    try:
        assert (reader._client._request_timeout_ms, reader._client._metadata_max_age_ms) == (20_000, 1_000)
    finally:
        await reader.stop()


def test_what_holds_no_aiokafka_client_is_refused() -> None:
    with pytest.raises(TypeError, match="holds no aiokafka client"):
        with_failover(object())
