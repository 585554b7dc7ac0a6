"""faust's table recovery, started again when a step times out (consumers/bus/recovery.py).

No broker: the recovery's step wrapper is driven directly with a step that outlasts its timeout,
as a slow group coordinator's seek to the committed offsets did."""

from __future__ import annotations

import asyncio

import faust
import pytest
from faust.tables.recovery import RebalanceAgain, Recovery, ServiceStopped

from consumers.bus.recovery import RetryingRecovery, RetryingTableManager


def _app(**options: object) -> faust.App:
    return faust.App("t-recovery", broker="kafka://127.0.0.1:9", web_enabled=False, **options)


async def test_faust_s_own_recovery_ends_for_good_on_a_step_timeout() -> None:
    """Why the subclass exists: a timed-out step looks like a stopped service, and faust's
    recovery loop stops on that (if faust fixes it, this test says the subclass can go)."""
    recovery = _app().tables.recovery
    assert type(recovery) is Recovery
    with pytest.raises(ServiceStopped):
        await recovery._wait(asyncio.sleep(5), timeout=0.05)


async def test_a_step_that_times_out_starts_the_recovery_again(caplog: pytest.LogCaptureFixture) -> None:
    recovery = _app(TableManager=RetryingTableManager).tables.recovery
    assert isinstance(recovery, RetryingRecovery)
    assert not recovery.signal_recovery_start.is_set()
    with pytest.raises(RebalanceAgain):
        await recovery._wait(asyncio.sleep(5), timeout=0.05)
    # the loop's next turn finds the signal set and runs the recovery again, same assignment
    assert recovery.signal_recovery_start.is_set()
    assert recovery.timeouts == 1
    assert "starting the recovery again" in caplog.text


async def test_a_step_in_time_returns_and_a_rebalance_or_a_stop_still_ends_it() -> None:
    recovery = _app(TableManager=RetryingTableManager).tables.recovery
    assert await recovery._wait(asyncio.sleep(0), timeout=5) is None
    recovery.signal_recovery_start.set()  # a new rebalance started meanwhile
    with pytest.raises(RebalanceAgain):
        await recovery._wait(asyncio.sleep(5), timeout=5)
    recovery.signal_recovery_start.clear()
    await recovery.stop()  # the worker stopping: a stop, not a timeout
    with pytest.raises(ServiceStopped):
        await recovery._wait(asyncio.sleep(5), timeout=0.05)
    assert recovery.timeouts == 0
