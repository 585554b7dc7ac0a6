"""The faust application of the bus: topics and tables declared once, shared state, output helpers.

``create_bus(settings)`` builds a :class:`Bus` and registers the thin agents of
consumers/agents/. Outputs are awaited until the broker acknowledged them (acks=all, idempotent
producer) before an agent moves on, and faust flushes its producer before committing offsets, so
an offset is committed only after everything the record caused is stored: at-least-once, made
effectively once by the id-based deduplication of inboxes and the audit writer (ADR 0001).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from consumers.audit.core.events import draft
from consumers.bus.config import BusSettings
from consumers.bus.decide.policy import ReplayGuard
from consumers.bus.decide.receipt_check import ReceiptCheck
from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.validator import Validator
from consumers.bus.directory_feed import DirectoryFeed
from consumers.bus.gaps import GapFiller
from consumers.bus.notices import BusNotices
from consumers.trust import TrustPolicy
from producers.identity import NodeIdentity
from schemas.audit import AuditEvent
from schemas.directory_store import DirectoryStore
from schemas.topics import (
    AUDIT_EVENTS_TOPIC,
    INGRESS_TOPIC,
    QUARANTINE_TOPIC,
    RECEIPTS_TOPIC,
    STATUS_TOPIC,
    inbox_topic,
)

__all__ = [
    "Bus",
    "SourceRecord",
    "TrustSource",
    "create_bus",
]

logger = logging.getLogger(__name__)

_MAX_BATCH = 512 * 1024  # well under the topics' and the broker's 1 MiB record-batch limits
_MAX_REQUEST = 3 * 1024 * 1024
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


class _IdempotentProducer(faust_aiokafka.Producer):
    """faust enables idempotence only inside transactions; the bus wants it always (ADR 0001)."""

    def _settings_extra(self) -> Any:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class Bus:
    """The app, its topics and tables, and the pure deciders the agents call."""

    def __init__(self, settings: BusSettings, *, trust: TrustSource, partitions: Mapping[str, int]) -> None:
        self.settings = settings
        self._deferred: dict[tuple[int, int, bytes], tuple[Any, int, bytes, bytes]] = {}
        parts = partitions
        self.app = faust.App(
            settings.app_id,
            broker=[f"kafka://{host}" for host in settings.bootstrap.split(",")],
            store="memory://",
            datadir=str(settings.data_dir),
            web_enabled=False,
            producer_acks=-1,
            # a 1 MiB envelope (the contract's limit) plus headers must fit one request
            producer_max_request_size=_MAX_REQUEST,
            # aiokafka's 16 KiB default holds two or three envelopes: a sender to one inbox partition
            # then waits a broker round trip every few records (about 100/s; benchmarks/bench_bus.py)
            producer_max_batch_size=_MAX_BATCH,
            topic_replication_factor=settings.changelog_replication,
            topic_allow_declare=True,
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=True,
            broker_session_timeout=settings.session_timeout,
            broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        )
        self.app.transport.Producer = _IdempotentProducer  # type: ignore[misc]
        self.ingress = self.app.topic(INGRESS_TOPIC, **_RAW)
        self.receipts = self.app.topic(RECEIPTS_TOPIC, **_RAW)
        self.quarantine = self.app.topic(QUARANTINE_TOPIC, **_RAW)
        self.status = self.app.topic(STATUS_TOPIC, **_RAW)
        self.audit = self.app.topic(AUDIT_EVENTS_TOPIC, **_RAW)
        # tables are co-partitioned with the topic whose agent writes them
        table: dict[str, Any] = {"key_type": bytes, "value_type": bytes}  # bytes: raw changelog records
        self.senders = self.app.Table("senders", partitions=parts[INGRESS_TOPIC], **table)
        self.routed = self.app.Table("routed", partitions=parts[INGRESS_TOPIC], **table)
        self.recalls = self.app.Table("recalls", partitions=parts[RECEIPTS_TOPIC], **table)
        self._inboxes: dict[str, faust.types.TopicT] = {}
        # which processor group wrote a quarantine record or audit draft (several may share a cluster)
        self.processor_headers = [("docbus_processor", settings.app_id.encode())]

        self.trust = trust
        self.directory = DirectoryStore()
        self.feed = DirectoryFeed(
            settings.bootstrap, self.directory, self.trust.policy, authority=settings.directory_org
        )
        self.validator = Validator(self.trust.policy, self.directory, ReplayGuard(settings.policy()))
        self.receipt_check = ReceiptCheck(self.trust.policy)
        self.ingress_gaps = GapFiller(settings.bootstrap, settings.app_id, INGRESS_TOPIC)
        self.receipt_gaps = GapFiller(settings.bootstrap, settings.app_id, RECEIPTS_TOPIC)
        identity = NodeIdentity.from_pki(
            settings.pki, settings.bus_org, settings.pki_passphrase.get_secret_value()
        )
        self.notices = BusNotices(identity)
        self._ready = asyncio.Event()
        self._starting = asyncio.Lock()

    async def ready(self) -> None:
        """First directory catch-up, once, before any agent decides anything."""
        async with self._starting:
            if not self._ready.is_set():
                count = await self.feed.catch_up(self.settings.directory_timeout)
                logger.info("directory caught up: %d entries, %d snapshot(s)", count, len(self.directory))
                self._ready.set()

    @staticmethod
    def store(
        table: faust.types.TableT[Any, Any], partition: int, key: bytes, value: bytes
    ) -> Awaitable[Any]:
        """``table[key] = value`` with its changelog record in ``partition`` (the source record's, as
        faust would choose), returning the record's future. Agents await it with their outputs:
        faust's own flush before a commit stops waiting after 0.1 s, so an offset could otherwise be
        committed ahead of the state it produced (seen under SIGKILL)."""
        table.data[key] = value
        return table.send_changelog(partition, key, value)

    def defer(self, table: faust.types.TableT[Any, Any], partition: int, key: bytes, value: bytes) -> None:
        """``table[key] = value`` now (later records of the batch see it); its changelog record is
        sent by :meth:`flush_deferred`, after the batch's other outputs are acknowledged."""
        table.data[key] = value
        self._deferred[(id(table), partition, key)] = (table, partition, key, value)

    def flush_deferred(self) -> list[Awaitable[Any]]:
        pending, self._deferred = self._deferred, {}
        return [
            table.send_changelog(partition, key, value) for table, partition, key, value in pending.values()
        ]

    def routed_of(self, message_id: str) -> RoutedRecord | None:
        value = self.routed.get(message_id.encode())
        return None if value is None else RoutedRecord.from_bytes(value)

    def inbox(self, code: str) -> faust.types.TopicT:
        topic = self._inboxes.get(code)
        if topic is None:
            topic = self._inboxes[code] = self.app.topic(inbox_topic(code), **_RAW)
        return topic

    async def send(
        self, topic: faust.types.TopicT, key: bytes, value: bytes, headers: Iterable[tuple[str, bytes]] = ()
    ) -> Awaitable[Any]:
        """Hand one record to the producer; returns the future of its acknowledgement."""
        return await topic.send(key=key, value=value, headers=list(headers))

    async def audit_draft(self, event: AuditEvent, *, at: datetime, **fields: Any) -> Awaitable[Any]:
        key, value = draft(event, at=at, **fields)
        return await self.send(self.audit, key, value, self.processor_headers)

    @staticmethod
    async def acknowledged(futures: Iterable[Awaitable[Any]]) -> None:
        """Wait until the broker acknowledged every record (raises if one failed)."""
        await asyncio.gather(*futures)


def create_bus(settings: BusSettings, *, trust: TrustSource, partitions: Mapping[str, int]) -> Bus:
    """The bus with its agents; ``trust`` and ``partitions`` come from the composition floor
    (docbus.wiring: the PKI folder and infra's topic specs)."""
    from consumers.bus.agents import receipts, validate_route

    bus = Bus(settings, trust=trust, partitions=partitions)
    validate_route.register(bus)
    receipts.register(bus)

    @bus.app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_readers(app: faust.App, *_: Any, **__: Any) -> None:
        await bus.feed.stop()
        await bus.ingress_gaps.stop()
        await bus.receipt_gaps.stop()

    @bus.app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def forget_positions(app: faust.App, *_: Any, **__: Any) -> None:
        bus.ingress_gaps.reset()
        bus.receipt_gaps.reset()

    @bus.app.timer(bus.settings.crl_check_interval)  # type: ignore[untyped-decorator]
    async def refresh_crls() -> None:
        bus.trust.refresh()

    return bus
