"""One org a gateway serves: its identity, its sender (numbering, signing, publishing, the bus's
notices) and its inbox client running in the background (receive, verify, store, answer 01).

The same node state and inbox store as ``docbus send`` and ``docbus inbox``
(``<home>/nodes/<org>/state`` and ``/inbox``): the CLI and the gateway can serve one org in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from aiokafka.errors import KafkaError

from consumers.inbox.client import InboxClient, InboxEvent
from consumers.inbox.store import InboxStore
from consumers.trust import TrustPolicy
from producers.blob_upload import DEFAULT_CHUNK_BYTES
from producers.directory_view import DirectoryView
from producers.identity import NodeIdentity
from producers.node_state import NodeState
from producers.publisher import PublishError
from producers.reader import ReadError
from producers.send import INLINE_MAX_BYTES, Sender
from schemas.connection import KafkaConnection
from schemas.errors import DocbusError

__all__ = ["OrgNode"]

logger = logging.getLogger(__name__)

_RESTART_AFTER = 2.0  # seconds before the inbox loop is started again after a broker error


class OrgNode:
    def __init__(
        self,
        identity: NodeIdentity,
        *,
        kafka: KafkaConnection,
        node_dir: Path,
        policy: TrustPolicy,
        directory: DirectoryView,
        bus_org: str,
        refresh: Callable[[], object] | None = None,
        inline_max: int = INLINE_MAX_BYTES,
        chunk_size: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        self.identity = identity
        self.org = identity.org_code
        self.sender = Sender(
            identity, kafka, node_dir / "state", policy=policy, inline_max=inline_max, chunk_size=chunk_size
        )
        self.uploads = node_dir / "state" / "uploads"  # files of a submit, until they are sent
        self.sender.directory = directory  # one address book for every org of the gateway
        self.state: NodeState = self.sender.state
        self.store = InboxStore(node_dir / "inbox")
        self.inbox = InboxClient(identity, kafka, node_dir / "inbox", policy, directory=directory,
                                 bus_org=bus_org)  # fmt: skip
        self.changed = asyncio.Condition()
        self._refresh = refresh
        self._task: asyncio.Task[None] | None = None
        self._recovering: asyncio.Task[None] | None = None
        self._recover_again = False

    async def start(self) -> None:
        await self.sender.__aenter__()
        self._task = asyncio.create_task(self._receive(), name=f"inbox-{self.org}")

    async def stop(self) -> None:
        if self._recovering is not None:
            await asyncio.gather(self._recovering, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.sender.__aexit__(None, None, None)

    async def _receive(self) -> None:
        while True:
            try:
                await self.inbox.run(on_event=self._event, refresh=self._refresh)
            except (KafkaError, PublishError, ReadError, OSError) as exc:
                logger.warning("inbox of %s stopped (%r); starting again", self.org, exc)
                await asyncio.sleep(_RESTART_AFTER)

    async def _event(self, event: InboxEvent) -> None:
        logger.info("inbox %s: %s %s %s", self.org, event.kind, event.message_id, event.detail)
        if event.kind == "notice" and event.detail.startswith("02 "):
            # a refusal of an asynchronous submit: if the bus did not count it, resync and sign the
            # document again now, not at the org's next submit (producers/send.py, Sender.recover)
            self._recover_again = True
            if self._recovering is None:
                self._recovering = asyncio.create_task(self._recover(), name=f"recover-{self.org}")
        async with self.changed:
            self.changed.notify_all()

    async def _recover(self) -> None:
        try:
            while self._recover_again:  # a refusal that came while recovering: read the notices again
                self._recover_again = False
                again = await self.sender.recover()
                if again:
                    logger.warning("%s: signed again, the bus had not counted them: %s", self.org, again)
        except (DocbusError, KafkaError, OSError, LookupError) as exc:
            logger.warning("%s: resync after a refusal failed (%r); the next submit tries again",
                           self.org, exc)  # fmt: skip
        finally:
            self._recovering = None
            async with self.changed:
                self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds after an inbox event (or at once); False on timeout."""
        if predicate() or timeout <= 0:
            return predicate()
        try:
            async with asyncio.timeout(timeout), self.changed:
                await self.changed.wait_for(predicate)
        except TimeoutError:
            return predicate()
        return True
