"""The faust application of the bus: topics and tables declared once, shared state, output helpers.

``create_bus(settings)`` builds a :class:`Bus` and registers the thin agents of
consumers/bus/agents/. An agent decides a batch, turns each decision into plain records
(consumers/bus/outputs.py), hands them to one aiokafka producer (consumers/bus/writer.py) and
awaits every acknowledgement (acks=all, idempotent) before it commits the batch's offsets itself,
while it decides the next batch (consumers/bus/agents/batches.py): an offset is committed only
after everything the record caused is stored, and a restart redoes at most the batches in
flight. At-least-once, made effectively once by the id-based deduplication of
inboxes and the audit writer (ADR 0001).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Collection, Iterable, Mapping
from typing import Any, Protocol

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from consumers.bus.agents.lanes import Lanes
from consumers.bus.blobs import BlobCheck
from consumers.bus.clients import MAX_BATCH, MAX_PARTITION_FETCH, MAX_REQUEST
from consumers.bus.config import BusConfig
from consumers.bus.decide.policy import ReplayGuard
from consumers.bus.decide.receipt_check import ReceiptCheck
from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.validator import Validator
from consumers.bus.fetch import fair_consumer
from consumers.bus.gaps import GapFiller
from consumers.bus.notices import BusNotices, NoticeBudget
from consumers.bus.outputs import Outputs, OutRecord, Stored
from consumers.bus.rebuild import rebuild_lifecycle_if_empty
from consumers.bus.recovery import RetryingTableManager
from consumers.bus.writer import RecordWriter
from consumers.outage import retried
from consumers.trust import TrustPolicy
from producers.directory_view import DirectoryView
from producers.failover import CLIENT_OPTIONS
from producers.fetch_guard import guard_fetches
from producers.identity import NodeIdentity
from schemas.connection import KafkaConnection
from schemas.directory_store import DirectoryStore
from schemas.topics import INGRESS_TOPIC, RECEIPTS_TOPIC

__all__ = [
    "Bus",
    "SourceRecord",
    "TrustSource",
    "create_bus",
]

logger = logging.getLogger(__name__)

Futures = list[Awaitable[Any]]
Deferred = list[tuple[Any, int, bytes, Stored]]  # (table, partition, key, value) written after a batch
_RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}


class TrustSource(Protocol):
    """A trust policy kept current (docbus.pki_folder.TrustFiles: the PKI folder and its CRL files)."""

    @property
    def policy(self) -> TrustPolicy: ...

    def refresh(self) -> int: ...


class SourceRecord(Protocol):
    """What an agent reads of a record: a faust message or an aiokafka ConsumerRecord."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> Any: ...
    @property
    def value(self) -> Any: ...
    @property
    def headers(self) -> Any: ...


def _credentials(kafka: KafkaConnection) -> faust.SSLCredentials | None:
    """The processors' mTLS identity for every faust client (consumer, producer, admin)."""
    ctx = kafka.ssl_context()
    return None if ctx is None else faust.SSLCredentials(ctx)


class _IdempotentProducer(faust_aiokafka.Producer):
    """faust enables idempotence only inside transactions; the bus wants it always (ADR 0001).
    faust declares the table changelogs once at start and ends the worker if the broker does not
    answer (a node not ready yet, a cluster restarting): declared here with backoff instead."""

    def _settings_extra(self) -> Any:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}

    async def create_topic(self, topic: str, *args: Any, **kwargs: Any) -> None:
        declare = super().create_topic
        await retried(f"declaring {topic}", lambda: declare(topic, *args, **kwargs), logger)


class Bus:
    """The app, its topics and tables, and the pure deciders the agents call."""

    def __init__(
        self,
        settings: BusConfig,
        kafka: KafkaConnection,
        *,
        trust: TrustSource,
        partitions: Mapping[str, int],
    ) -> None:
        self.settings, self.kafka = settings, kafka
        guard_fetches()  # ingress and receipts are written by every org: compressed batches bounded
        self._deferred: dict[tuple[int, int, bytes], tuple[Any, int, bytes, Stored]] = {}
        # sender states written in this batch, as objects (encoded once, at the batch's end)
        self.pending_states: dict[bytes, Stored] = {}
        parts = partitions
        self.app = faust.App(
            settings.app_id,
            broker=[f"kafka://{host}" for host in kafka.bootstrap.split(",")],
            broker_credentials=_credentials(kafka),
            store="memory://",
            datadir=str(settings.data_dir),
            web_enabled=False,
            producer_acks=-1,
            # a 1 MiB envelope (the contract's limit) plus headers must fit one request
            producer_max_request_size=MAX_REQUEST,
            # aiokafka's 16 KiB default holds two or three envelopes: a sender to one inbox partition
            # then waits a broker round trip every few records (about 100/s; benchmarks/bench_bus.py)
            producer_max_batch_size=MAX_BATCH,
            consumer_max_fetch_size=MAX_PARTITION_FETCH,
            # the agents commit after each batch (Bus.commit); faust's own timer is a fallback
            broker_commit_every=1_000_000,
            topic_replication_factor=settings.changelog_replication,
            topic_allow_declare=True,
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=True,
            broker_session_timeout=settings.session_timeout,
            broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
            # every consumer request (fetch, heartbeat, commit, join) to a broker that hangs with its
            # connections open (SIGSTOP) fails after this long and goes to the new leader or
            # coordinator; faust's 90 s held delivery for the whole pause (docs/OPERATIONS.md §5)
            broker_request_timeout=max(settings.session_timeout, CLIENT_OPTIONS["request_timeout_ms"] / 1000),
            # faust's default is 5 min: its fetcher would keep asking a paused leader that long
            consumer_metadata_max_age_ms=CLIENT_OPTIONS["metadata_max_age_ms"],
            producer_metadata_max_age_ms=CLIENT_OPTIONS["metadata_max_age_ms"],
            # a recovery step that times out starts the recovery again instead of ending it
            # silently (faust's own leaves the worker never ready; consumers/bus/recovery.py)
            TableManager=RetryingTableManager,
        )
        self.app.transport.Producer = _IdempotentProducer  # type: ignore[misc]
        # a poll takes at most fetch_per_partition records of each partition: a flood's fetch no
        # longer holds the next poll's mail behind all of it; a fetch waits fetch_wait at most on
        # the broker; a record is delivered without four tasks (consumers/bus/fetch.py)
        self.app.transport.Consumer = fair_consumer(  # type: ignore[misc]
            settings.fetch_per_partition, settings.fetch_wait
        )
        self.ingress = self.app.topic(INGRESS_TOPIC, **_RAW)
        self.receipts = self.app.topic(RECEIPTS_TOPIC, **_RAW)
        # tables are co-partitioned with the topic whose agent writes them
        table: dict[str, Any] = {"key_type": bytes, "value_type": bytes}  # bytes: raw changelog records
        self.senders = self.app.Table("senders", partitions=parts[INGRESS_TOPIC], **table)
        self.routed = self.app.Table("routed", partitions=parts[INGRESS_TOPIC], **table)
        self.recalls = self.app.Table("recalls", partitions=parts[RECEIPTS_TOPIC], **table)
        # number_key (issuer/year/số/ký hiệu) -> the routed document holding it: DUPLICATE_DOCUMENT
        self.documents = self.app.Table("documents", partitions=parts[INGRESS_TOPIC], **table)
        # <envelope id>/<recipient> -> schemas.lifecycle.RecipientState: which receipt may come next
        self.lifecycle = self.app.Table("lifecycle", partitions=parts[RECEIPTS_TOPIC], **table)
        self.tables: dict[str, faust.types.TableT[Any, Any]] = {
            "routed": self.routed, "senders": self.senders, "recalls": self.recalls,
            "lifecycle": self.lifecycle, "documents": self.documents,
        }  # fmt: skip
        # which processor group wrote a quarantine record or audit draft (several may share a cluster)
        self.processor_headers = (("docbus_processor", settings.app_id.encode()),)
        self.writer = RecordWriter(kafka)
        self.ingress_lanes = Lanes(settings.read_ahead, settings.read_ahead_bytes)
        self.receipt_lanes = Lanes(settings.read_ahead, settings.read_ahead_bytes)
        self.notice_budget = NoticeBudget(settings.notice_burst, settings.notices_per_minute)

        self.trust = trust
        self.directory = DirectoryStore()
        self.feed = DirectoryView(  # the one directory reader, sharing the validator's store
            kafka, policy=self.trust.policy, authority=settings.directory_org, store=self.directory,
            keep_open=True,
        )  # fmt: skip
        self.validator = Validator(
            self.trust.policy, self.directory, ReplayGuard(settings.policy()), settings.limits()
        )
        self.receipt_check = ReceiptCheck(self.trust.policy)
        self.blob_check = BlobCheck(kafka, wait=settings.blob_wait, directory=self.directory)
        self.ingress_gaps = GapFiller(kafka, settings.app_id, INGRESS_TOPIC, self._filled)
        self.receipt_gaps = GapFiller(kafka, settings.app_id, RECEIPTS_TOPIC, self._filled)
        identity = NodeIdentity.from_pki(
            settings.pki, settings.bus_org, settings.pki_passphrase.get_secret_value()
        )
        self.notices = BusNotices(identity)
        self._ready = asyncio.Event()
        self._starting = asyncio.Lock()

    async def ready(self) -> None:
        """First directory catch-up, once, before any agent decides anything."""
        async with self._starting:
            if not self._ready.is_set():  # a broker away at start is waited out (consumers/outage.py)
                count = await retried(
                    "directory catch-up", lambda: self.feed.catch_up(self.settings.directory_timeout), logger
                )
                logger.info("directory caught up: %d entries, %d snapshot(s)", count, len(self.directory))
                await retried("bus writer start", self.writer.start, logger)
                # an upgrade in place must not judge receipts against an empty lifecycle table
                await retried("lifecycle rebuild", lambda: rebuild_lifecycle_if_empty(self), logger)
                self._ready.set()

    def _changelog(self, table: faust.types.TableT[Any, Any], key: bytes, value: bytes) -> OutRecord:
        """``table[key] = value`` now, and its changelog record (raw key and value, as faust
        writes them for these tables) for our own producer: faust's per-record buffered send is
        what held the processor to a few hundred records a second."""
        table.data[key] = value
        return OutRecord(table.changelog_topic.get_topic_name(), key, value)

    async def store(
        self, table: faust.types.TableT[Any, Any], partition: int, key: bytes, value: bytes
    ) -> Futures:
        """``table[key] = value`` with its changelog record in ``partition`` (the source record's, as
        faust would choose); returns the record's acknowledgement, awaited with the outputs."""
        return list(await self.writer.write([self._changelog(table, key, value)], partition))

    def defer(self, table: faust.types.TableT[Any, Any], partition: int, key: bytes, value: Stored) -> None:
        """``table[key] = value`` for later records of the batch (:attr:`pending_states`); the
        table and its changelog record by :meth:`store_deferred`, after the batch's other outputs
        are acknowledged."""
        self.pending_states[key] = value
        self._deferred[(id(table), partition, key)] = (table, partition, key, value)

    def take_deferred(self) -> Deferred:
        """The table writes deferred so far (one batch's, taken once it is decided); the next batch
        defers into a fresh set while this one is stored."""
        taken, self._deferred = self._deferred, {}
        return list(taken.values())

    async def store_deferred(self, deferred: Deferred) -> Futures:
        """Write ``deferred`` (tables and changelogs); a key's pending value is forgotten only if
        no later batch deferred a newer one meanwhile (that one is still read from pending)."""
        futures: Futures = []
        for table, partition, key, value in deferred:
            futures += await self.store(table, partition, key, value.to_bytes())
            if self.pending_states.get(key) is value:
                del self.pending_states[key]
        return futures

    async def _filled(self, topic: str, partition: int, first: int, last: int) -> None:
        """Offsets ``first..last`` were re-read and processed by an agent (consumers/bus/gaps.py):
        faust must count them as consumed or its commit stays behind them for good. ``_add_gap``
        is faust's own bookkeeping for offsets it may commit over (a private method, used here
        only; faust-streaming 0.15)."""
        await self.app.consumer._add_gap(TP(topic, partition), first, last)  # type: ignore[attr-defined]

    def routed_of(self, message_id: str) -> RoutedRecord | None:
        value = self.routed.get(message_id.encode())
        return None if value is None else RoutedRecord.from_bytes(value)

    async def apply(self, outputs: Outputs, partition: int) -> Futures:
        """Table updates (changelog records in ``partition``, the source record's) and records of
        one decision handed to the producers; returns the acknowledgements to await."""
        futures: Futures = []
        for write in outputs.tables:
            table = self.tables[write.table]
            if write.after_batch and not isinstance(write.value, bytes):
                self.defer(table, partition, write.key, write.value)
            else:
                futures += await self.store(table, partition, write.key, write.encoded())
        futures += await self.writer.write(outputs.records)
        return futures

    async def commit(self, events: Iterable[Any], *, again: Iterable[Any] = ()) -> None:
        """Commit a batch's offsets now (its outputs are all acknowledged): the next offset of
        each partition the batch read, whatever faust's own bookkeeping of acked offsets says —
        records re-read by the gap filler never passed through faust, and its commit could stay
        behind them for good. A restart then redoes at most the batches in flight (the one
        decided, the one being stored, and those whose commit trails: consumers/bus/agents/trail.py).
        (faust's ``_commit_offsets`` commits given offsets for assigned partitions and records
        them, so its own timer never commits lower.)
        ``again``: records the consumer handed again, decided in an earlier batch: acked, never
        committed (their offsets would take the partition's committed offset back)."""
        for event in again:
            event.ack()
        offsets: dict[TP, int] = {}
        for event in events:
            msg = event.message
            offsets[msg.tp] = max(offsets.get(msg.tp, 0), msg.offset + 1)
            event.ack()
        if offsets:
            await self.app.consumer._commit_offsets(offsets)  # type: ignore[attr-defined]

    @staticmethod
    async def acknowledged(futures: Iterable[Awaitable[Any]]) -> None:
        """Wait until the broker acknowledged every record (raises if one failed)."""
        await asyncio.gather(*futures)


def create_bus(
    settings: BusConfig, kafka: KafkaConnection, *, trust: TrustSource, partitions: Mapping[str, int]
) -> Bus:
    """The bus with its agents; ``trust`` and ``partitions`` come from the composition floor
    (docbus.wiring: the PKI folder and infra's topic specs)."""
    from consumers.bus.agents import receipts, validate_route

    bus = Bus(settings, kafka, trust=trust, partitions=partitions)
    validate_route.register(bus)
    receipts.register(bus)

    @bus.app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_readers(app: faust.App, *_: Any, **__: Any) -> None:
        await bus.feed.stop()
        await bus.writer.stop()
        await bus.ingress_gaps.stop()
        await bus.receipt_gaps.stop()
        await bus.blob_check.stop()

    @bus.app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_read_ahead(app: faust.App, *_: Any, **__: Any) -> None:
        bus.ingress_lanes.clear()  # as faust empties its stream buffers: read again from the commit
        bus.receipt_lanes.clear()

    @bus.app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def forget_positions(app: faust.App, assigned: Collection[tuple[str, int]], **__: Any) -> None:
        bus.ingress_gaps.reset(assigned)  # and ask for the new assignment's committed offsets
        bus.receipt_gaps.reset(assigned)

    @bus.app.timer(bus.settings.crl_check_interval)  # type: ignore[untyped-decorator]
    async def refresh_crls() -> None:
        bus.trust.refresh()

    return bus
