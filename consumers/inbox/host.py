"""One process, several inboxes: a node holding the keys of several org codes (a university and its
faculties, a Sở and its units) serves them all in one event loop.

Codes whose clients share one receipt publisher (they reach the cluster under one TLS login) are
read by one consumer (consumers/inbox/shared.py); a code alone on its login runs its own client
with its group. Either way each code keeps its own group ``docbus-inbox-<org>``, so the committed
positions are the same whether a code is served alone or with others; what they share besides is
the caller's: the trust files, the directory view (read once before they start) and the start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from consumers.inbox.client import DirectorySource, InboxClient, InboxEvent
from consumers.inbox.shared import SharedInboxes
from consumers.outage import TRANSIENT, retried
from producers.reader import ReadError

__all__ = ["run_inboxes"]

logger = logging.getLogger(__name__)


async def run_inboxes(
    clients: Sequence[InboxClient],
    *,
    once: bool,
    on_event: Callable[[str, InboxEvent], None] | None = None,
    refresh: Callable[[], object] | None = None,
    directory: DirectorySource | None = None,
) -> dict[str, int]:
    """Run every client until each is caught up (``once``) or forever; records handled per org.
    ``on_event`` gets the org code with each event."""
    if directory is not None:  # once for all, not once per client's first envelope; a broker away waits
        await retried("inbox directory", directory.catch_up, logger, errors=(*TRANSIENT, ReadError))

    def tagged(org: str) -> Callable[[InboxEvent], None] | None:
        if on_event is None:
            return None
        return lambda event: on_event(org, event)

    by_publisher: dict[int, list[InboxClient]] = {}
    for c in clients:
        by_publisher.setdefault(id(c.publisher), []).append(c)
    async with asyncio.TaskGroup() as group:  # one failing stops the others: the error is the process's
        tasks = []
        for served in by_publisher.values():
            if len(served) == 1:
                tasks.append(group.create_task(_alone(served[0], once, tagged(served[0].org), refresh)))
            else:
                shared = SharedInboxes(served, served[0].kafka, served[0].publisher)
                tasks.append(group.create_task(shared.run(once=once, on_event=on_event, refresh=refresh)))
    return {org: n for t in tasks for org, n in t.result().items()}


async def _alone(
    client: InboxClient,
    once: bool,
    on_event: Callable[[InboxEvent], None] | None,
    refresh: Callable[[], object] | None,
) -> dict[str, int]:
    return {client.org: await client.run(once=once, on_event=on_event, refresh=refresh)}
