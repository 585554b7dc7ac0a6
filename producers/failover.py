"""The long-running clients (bus, audit writer, inbox client and its receipts): their aiokafka
options (:data:`CLIENT_OPTIONS`), metadata from a broker that answers, and one constructor per kind
of client (:func:`long_running_producer`, :func:`long_running_consumer`, :func:`long_running_admin`)
so that none of them misses either. Here, in the node's floor, so a node's own long-running
publisher (the inbox's receipts, producers/publisher.py) gets them as the processors do.

A broker that hangs with its connections open (SIGSTOP, a frozen host) is fenced by the controller
6 s after its last heartbeat (infra/broker.py) and its partitions get new leaders. A client learns
of them from a metadata refresh. aiokafka 0.14 sends each refresh to a random known broker, the hung
one included (aiokafka issue #187, "Metadata is retried to an unavailable node"), and a metadata
request or a new connection to the hung broker waits out the whole request timeout. A client whose
refresh or retry met it learnt of the new leader 10 s late: a 30 s pause stalled delivery 15.9 and
16.6 s in two runs of four (docs/PERFORMANCE.md, Recovery).

:class:`FailoverClient` is aiokafka's client with three changes. A broker whose request timed out
is asked for metadata last. A metadata request waits :data:`METADATA_TIMEOUT_S` at most before the
next broker is asked (a broker answers one in milliseconds). And before it connects again to a
broker whose request timed out, it asks for metadata: a broker the controller fenced meanwhile is
no longer listed, and the request fails at once instead of waiting out a connect to the hung node.
Nothing else differs. With it the same pause stalled delivery 10.1–10.9 s in four runs of four.
:func:`with_failover` puts it under an aiokafka producer, consumer or admin client, whose
constructors build their own client and take no other (faust's group consumer, consumers/bus/fetch.py,
is built by faust and wrapped there). docs/adr/0005-failover-client.md says why
this copies one aiokafka method.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient, ConnectionGroup
from aiokafka.errors import KafkaError, NodeNotReadyError, RequestTimedOutError
from aiokafka.protocol.metadata import MetadataRequest

from schemas.connection import KafkaConnection

__all__ = [
    "CLIENT_OPTIONS",
    "METADATA_TIMEOUT_S",
    "SUSPECT_FOR_S",
    "FailoverClient",
    "long_running_admin",
    "long_running_consumer",
    "long_running_producer",
    "with_failover",
]

logger = logging.getLogger(__name__)

#: how long a metadata request may wait for its answer before the next broker is asked
METADATA_TIMEOUT_S = 3.0
#: how long a broker whose request timed out is asked for metadata only after the others
SUSPECT_FOR_S = 60.0

C = TypeVar("C")

#: aiokafka options of every long-running client (docs/OPERATIONS.md): a request to a broker that
#: hangs with its connections open (SIGSTOP, a frozen host) times out after 10 s instead of
#: aiokafka's 40 s; aiokafka then closes that connection and asks for new metadata, and the request
#: goes to the leader the controller elected meanwhile (it fences a silent broker 6 s after its last
#: heartbeat, infra/broker.py). Metadata is also re-read every 5 s when nothing fails (aiokafka:
#: 5 min; at 30 s a paused broker stalled delivery for 30 s, docs/PERFORMANCE.md), asked of the
#: brokers that answer first (:class:`FailoverClient`).
CLIENT_OPTIONS: dict[str, int] = {
    "request_timeout_ms": 10_000,
    "retry_backoff_ms": 200,
    "metadata_max_age_ms": 5_000,
    "connections_max_idle_ms": 60_000,
}


def _options(kafka: KafkaConnection, options: dict[str, Any]) -> dict[str, Any]:
    return {**kafka.client_kwargs(), **CLIENT_OPTIONS, **options}  # the caller's own win


def long_running_producer(kafka: KafkaConnection, **options: Any) -> AIOKafkaProducer:
    """A producer of a long-running process: :data:`CLIENT_OPTIONS` (``options`` override them) and
    a :class:`FailoverClient` under it."""
    return with_failover(AIOKafkaProducer(**_options(kafka, options)))


def long_running_consumer(kafka: KafkaConnection, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer of a long-running process (``topics`` subscribed, if given), as the producer."""
    return with_failover(AIOKafkaConsumer(*topics, **_options(kafka, options)))


def long_running_admin(kafka: KafkaConnection, **options: Any) -> AIOKafkaAdminClient:
    """An admin client of a long-running process, as the producer."""
    return with_failover(AIOKafkaAdminClient(**_options(kafka, options)))


class FailoverClient(AIOKafkaClient):  # type: ignore[misc]  # aiokafka ships no types for it
    """aiokafka's client; metadata is asked of the brokers that answer first."""

    def _suspects(self) -> dict[Any, float]:
        found: dict[Any, float] | None = self.__dict__.get("_failover_suspects")
        if found is None:  # the object was built as an AIOKafkaClient: no __init__ of ours ran
            found = self.__dict__["_failover_suspects"] = {}
        return found

    def suspect(self, node_id: Any) -> None:
        """``node_id`` did not answer in time: asked for metadata last for a while."""
        self._suspects()[node_id] = time.monotonic()

    def suspected(self, node_id: Any) -> bool:
        since = self._suspects().get(node_id)
        return since is not None and time.monotonic() - since < SUSPECT_FOR_S

    async def send(self, node_id: Any, request: Any, *, group: Any = ConnectionGroup.DEFAULT) -> Any:
        if self.suspected(node_id) and not self._connected(node_id, group):
            await self._still_listed(node_id)
        try:
            answer = await super().send(node_id, request, group=group)
        except RequestTimedOutError:
            self.suspect(node_id)
            raise
        self._suspects().pop(node_id, None)  # it answers again
        return answer

    def _connected(self, node_id: Any, group: Any) -> bool:
        conn = self._conns.get((node_id, group))
        return conn is not None and bool(conn.connected())

    async def _still_listed(self, node_id: Any) -> None:
        """Before connecting again to a broker whose request timed out (a connect to a hung broker
        waits out a request timeout too), ask for metadata; a broker the controller has fenced
        meanwhile is no longer listed, and the caller is told at once (NodeNotReadyError, which
        aiokafka's producer and fetcher retry on the leader the new metadata names)."""
        if self._sync_task is None:  # not started: no metadata refresh to wait for
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.force_metadata_update(), 2 * METADATA_TIMEOUT_S)
        if self.cluster.broker_metadata(node_id) is None:
            raise NodeNotReadyError(f"node {node_id} timed out and the cluster no longer lists it")

    async def _metadata_update(self, cluster_metadata: Any, topics: Any) -> bool:
        # aiokafka 0.14.0's AIOKafkaClient._metadata_update, but for the order of the brokers asked
        # (a suspected one last) and the bound on each request; the rest as it is there
        metadata_request = MetadataRequest(list(topics) if topics else None)
        nodeids: list[Any] = [b.nodeId for b in self.cluster.brokers()]
        bootstrap_id = ("bootstrap", ConnectionGroup.DEFAULT)
        if bootstrap_id in self._conns:
            nodeids.append("bootstrap")
        random.shuffle(nodeids)
        nodeids.sort(key=self.suspected)  # stable: the shuffled order within each kind
        for node_id in nodeids:
            conn = await self._get_conn(node_id)
            if conn is None:
                continue
            try:
                metadata = await asyncio.wait_for(conn.send(metadata_request), METADATA_TIMEOUT_S)
            except (KafkaError, TimeoutError) as err:
                self.suspect(node_id)
                logger.debug("metadata from node %s: %r; asking the next", node_id, err)
                continue
            if not metadata.brokers:
                return False
            cluster_metadata.update_metadata(metadata)
            if bootstrap_id in self._conns and len(self.cluster.brokers()):
                self._conns.pop(bootstrap_id).close()
            return True
        cluster_metadata.failed_update(None)
        return False


def with_failover(client: C) -> C:
    """``client`` (an aiokafka producer, consumer or admin client, not started yet) with a
    :class:`FailoverClient` under it. The subclass adds no state an ``__init__`` would set, so the
    client aiokafka built is the same object, its class changed."""
    inner = getattr(client, "client", None) or getattr(client, "_client", None)
    if type(inner) is not AIOKafkaClient and not isinstance(inner, FailoverClient):
        raise TypeError(f"{type(client).__name__} holds no aiokafka client")
    inner.__class__ = FailoverClient
    return client
