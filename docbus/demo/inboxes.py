"""The recipients' side of the demo: many organisations' inbox clients in one process.

Each watched org reads its own inbox (``docbus.inbox.<org>``) as itself, from the position taken
before anything was sent, and hands each record to its :class:`InboxClient` — the same client
`docbus inbox` runs: it re-verifies, stores and sends the 01 receipt. Then the org's clerk answers
(03 accepted, or 02 refused with a reason). Records about documents this run did not send (other
runs, other users of the broker) are left alone. Sealed receipts forwarded to the senders' inboxes
are checked again and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from consumers.inbox.client import InboxClient
from consumers.trust import TrustError, TrustPolicy
from docbus.demo.tally import Tally
from docbus.demo.world import DemoWorld
from docbus.sector import MINISTRY
from producers.directory_view import DirectoryView
from producers.receipts import receipt_for
from schemas.canonical import receipt_signing_input
from schemas.codec import encode
from schemas.connection import KafkaConnection
from schemas.envelope import Envelope, parse_envelope
from schemas.errors import ContractError
from schemas.orgcode import canonical_org_code
from schemas.receipt import StatusCode, is_receipt, parse_receipt
from schemas.topics import inbox_topic

__all__ = ["Clerk", "InboxHub"]

logger = logging.getLogger(__name__)

#: a clerk's answer to a stored document: (status, reason) or None for no answer
Clerk = Callable[[str, Envelope], tuple[StatusCode, str | None] | None]
_BUS = "G03.BUS"


class InboxHub:
    """Each org's inbox client on the org's own connection (its own certificate on the secured
    broker, which lets it read its own inbox only), fed from a consumer of its own."""

    def __init__(
        self,
        world: DemoWorld,
        connect: Callable[[str], KafkaConnection],
        state: Path,
        policy: TrustPolicy,
        tally: Tally,
        clerk: Clerk,
    ) -> None:
        self.world, self.connect, self.state = world, connect, state
        self.policy, self.tally, self.clerk = policy, tally, clerk
        self.directory = DirectoryView(connect(MINISTRY), policy=policy)
        self.clients: dict[str, InboxClient] = {}
        self._consumers: list[AIOKafkaConsumer] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, orgs: list[str]) -> None:
        """Watch ``orgs``' inboxes from their current end (call before anything is sent)."""
        await self.directory.catch_up()
        await asyncio.gather(*(self._watch(org) for org in orgs))

    async def _watch(self, org: str) -> None:
        kafka = self.connect(org)
        store = self.state / "nodes" / org / "inbox"  # where `docbus inbox --org` keeps it
        client = InboxClient(self.world.identity(org), kafka, store, self.policy, directory=self.directory)
        self.clients[inbox_topic(org)] = client
        await client.publisher.start()
        consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=None, enable_auto_commit=False)
        self._consumers.append(consumer)
        await consumer.start()
        tp = TopicPartition(inbox_topic(org), 0)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        await consumer.position(tp)  # resolve the lazy seek now, before anything is sent
        self._tasks.append(asyncio.create_task(self._run(consumer)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(c.stop() for c in self._consumers), return_exceptions=True)
        await asyncio.gather(*(c.publisher.stop() for c in self.clients.values()), return_exceptions=True)
        await self.directory.stop()

    def failed(self) -> BaseException | None:
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                return task.exception()
        return None

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=500)).values():
                for record in batch:
                    await self._handle(record)

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        client, raw = self.clients[record.topic], record.value or b""
        if is_receipt(raw):
            await self._receipt(client, raw)
            return
        try:
            env = parse_envelope(raw)
        except ContractError:
            return  # not this run's: the bus only routes what decodes
        doc_id = env.document.document_id
        if not self.tally.knows(doc_id):
            return
        event = await client.handle(raw, record.headers)
        self.tally.events[event.kind] += 1
        if event.kind in ("document", "duplicate"):
            self.tally.delivered(doc_id, client.org)
        if event.kind == "document":
            answer = self.clerk(client.org, env)
            if answer is not None:
                status, reason = answer
                made = receipt_for(client.identity, env, status, reason, by_name="Văn thư",
                                   by_position=client.identity.org_name)  # fmt: skip
                await client.publisher.publish_receipt(made, encode(made))

    async def _receipt(self, client: InboxClient, raw: bytes) -> None:
        try:
            receipt = parse_receipt(raw)
        except ContractError:
            return
        if not self.tally.knows(receipt.document_id):
            return
        await client.handle(raw)  # stored in the sender's inbox, as `docbus inbox` keeps it
        origin = canonical_org_code(receipt.from_org)
        if origin == _BUS:
            return  # the bus's notices: the senders' watchers count those
        try:
            self.policy.verify_seal(
                receipt_signing_input(receipt), receipt.signatures, origin, datetime.now(UTC)
            )
        except TrustError as exc:
            logger.warning("receipt %s from %s ignored: %s", receipt.message_id, origin, exc)
            return
        self.tally.receipt(receipt.document_id, origin, receipt.status.value, receipt.reason)
