"""The recipients' side of the demo: many organisations' inbox clients in one process.

One consumer reads every watched inbox (``docbus.inbox.<org>``) from the positions taken before
anything was sent, and hands each record to that org's :class:`InboxClient` — the same client
`docbus inbox` runs: it re-verifies, stores and sends the 01 receipt. Then the org's clerk answers
(03 accepted, or 02 refused with a reason). Records about documents this run did not send (other
runs, other users of the broker) are left alone. Sealed receipts forwarded to the senders' inboxes
are checked again and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from consumers.inbox.client import InboxClient
from consumers.trust import TrustError, TrustPolicy
from docbus.demo.kafka import end_offsets
from docbus.demo.tally import Tally
from docbus.demo.world import DemoWorld
from producers.directory_view import DirectoryView
from producers.publisher import Publisher
from producers.receipts import receipt_for
from schemas.canonical import receipt_signing_input
from schemas.codec import encode, fingerprint
from schemas.envelope import Envelope, parse_envelope
from schemas.errors import ContractError
from schemas.orgcode import canonical_org_code
from schemas.receipt import StatusCode, parse_receipt
from schemas.topics import inbox_topic

__all__ = ["Clerk", "InboxHub"]

logger = logging.getLogger(__name__)

#: a clerk's answer to a stored document: (status, reason) or None for no answer
Clerk = Callable[[str, Envelope], tuple[StatusCode, str | None] | None]
_RECEIPT = fingerprint("receipt.v1")
_BUS = "G03.BUS"


class InboxHub:
    def __init__(
        self, world: DemoWorld, bootstrap: str, state: Path, policy: TrustPolicy, tally: Tally, clerk: Clerk
    ) -> None:
        self.world, self.bootstrap, self.state = world, bootstrap, state
        self.policy, self.tally, self.clerk = policy, tally, clerk
        self.publisher = Publisher(bootstrap, client_id="docbus-demo-inboxes")
        self.directory = DirectoryView(bootstrap, policy=policy)
        self.clients: dict[str, InboxClient] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, orgs: list[str]) -> None:
        """Watch ``orgs``' inboxes from their current end (call before anything is sent)."""
        await self.publisher.start()
        await self.directory.catch_up()
        for org in orgs:
            store = self.state / "nodes" / org / "inbox"  # where `docbus inbox --org` keeps it
            client = InboxClient(
                self.world.identity(org), self.bootstrap, store, self.policy, directory=self.directory
            )
            client.publisher = self.publisher  # one producer for every org's receipts
            self.clients[inbox_topic(org)] = client
        start = await end_offsets(self.bootstrap, self.clients)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        self._consumer = consumer
        await consumer.start()
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        self._task = asyncio.create_task(self._run(consumer))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
        await self.directory.stop()
        await self.publisher.stop()

    def failed(self) -> BaseException | None:
        if self._task is not None and self._task.done() and not self._task.cancelled():
            return self._task.exception()
        return None

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=500)).values():
                for record in batch:
                    await self._handle(record)

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        client, raw = self.clients[record.topic], record.value or b""
        if raw[2:10] == _RECEIPT:
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
                await self.publisher.publish_receipt(made, encode(made))

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
