"""faust's table recovery, started again when one of its steps times out instead of ending silently.

faust-streaming's recovery (faust.tables.recovery.Recovery, 0.11) bounds each broker step of a
rebalance's recovery — producer flush, highwaters, offsets, the seek to the committed offsets —
by ``broker_request_timeout`` through mode's ``Service.wait_first``. On a timeout ``wait_first``
answers ``stopped=True``, as for a stopped service; ``Recovery._wait`` then raises
``ServiceStopped`` and the recovery loop ends for good, logging nothing. The worker never becomes
ready: the bus was seen stuck for minutes after "Seek stream partitions to committed offsets" (a
fresh 3-node cluster under load, the group coordinator slow to answer) and after "Highwater for
active changelog partitions" (a broker paused while the bus started).

Here a step that times out while the service is not stopping starts the recovery again, as a new
rebalance would: every step is a read or a seek, so running them again is safe, and nothing is
decided before the recovery completes. One WARNING line per timeout.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.tables.manager import TableManager
from faust.tables.recovery import RebalanceAgain, Recovery, ServiceStopped

__all__ = ["RetryingRecovery", "RetryingTableManager"]

logger = logging.getLogger(__name__)


class RetryingRecovery(Recovery):
    #: recovery steps that timed out and started the recovery again (for tests and status)
    timeouts = 0

    async def _wait(self, coro: Any, timeout: Any = None) -> None:
        signal: Any = self.signal_recovery_start  # an asyncio.Event; mode's types name its own
        result = await self.wait_first(coro, signal, timeout=timeout)
        if result.stopped:
            if self.should_stop or not timeout:  # stopped or crashed; or no timeout to blame
                raise ServiceStopped()
            self.timeouts += 1
            logger.warning(
                "table recovery: a step took longer than %s s (the broker slow or away); starting the "
                "recovery again",
                timeout,
            )
            self.signal_recovery_start.set()  # the loop starts over at once, same assignment
            raise RebalanceAgain()
        if signal in result.done:
            raise RebalanceAgain()  # another rebalance started


class RetryingTableManager(TableManager):
    """faust's table manager with :class:`RetryingRecovery` (the app's ``TableManager`` setting)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = RetryingRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
