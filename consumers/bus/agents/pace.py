"""Hands the event loop to the producer now and then while an agent decides a batch.

Decisions are CPU work on the loop the producer also runs on: without a pause, the first record's
copies would leave only once the last record of the batch is decided (a 200-record batch holds the
first envelope for the whole batch). A pause after every record instead sends a request per record,
which costs the broker on a small machine; one every ``interval`` seconds (``BATCH_WAIT``) bounds
what a decided record waits for the wire and keeps requests full.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["Pace"]


class Pace:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = time.monotonic()

    async def tick(self) -> None:
        """After each decision: let the producer run when ``interval`` has passed since the last time."""
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            await asyncio.sleep(0)
