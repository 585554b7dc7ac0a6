"""One process, several inboxes: a node holding the keys of several org codes (a university and its
faculties, a Sở and its units) runs one inbox client per code in one event loop.

Each client keeps its own consumer group (``docbus-inbox-<org>``), so the committed positions are
the same whether a code is served alone or with others; what they share is the caller's: the
trust files, the directory view (read once before they start) and the process start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from consumers.inbox.client import DirectorySource, InboxClient, InboxEvent
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

    async with asyncio.TaskGroup() as group:  # one failing stops the others: the error is the process's
        tasks = [
            group.create_task(c.run(once=once, on_event=tagged(c.org), refresh=refresh)) for c in clients
        ]
    return {c.org: t.result() for c, t in zip(clients, tasks, strict=True)}
