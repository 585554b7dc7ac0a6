"""The bus consumer's own parts (consumers/bus/fetch.py), checked without a broker; run by
tests/bus/test_fair_fetch.py in a process of its own. Prints the name of each check passed."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types import TP

from consumers.bus.fetch import fair_consumer
from schemas.topics import INGRESS_TOPIC


async def _nothing(*_: Any) -> None:
    return None


async def main() -> None:
    app = faust.App("docbus-test-fair", broker="kafka://127.0.0.1:9", web_enabled=False)
    fair: Any = fair_consumer(200, 0.05)(
        app.transport, callback=_nothing, on_partitions_revoked=_nothing, on_partitions_assigned=_nothing
    )

    # faust builds its consumer with fetch_max_wait_ms=1500 and has no setting for it; aiokafka
    # builds its fetcher from the attribute when the consumer starts
    built = fair._new_consumer_thread()._create_worker_consumer(app.transport)
    try:
        assert built._fetch_max_wait_ms == 50, built._fetch_max_wait_ms
    finally:
        await built.stop()
    print("fetch_wait")

    # faust's fetch loop, per record: wait_first(callback(message), suspend_flow.wait())
    ran_in: list[asyncio.Task[Any] | None] = []

    async def deliver() -> str:
        ran_in.append(asyncio.current_task())
        return "delivered"

    done = await fair.wait_first(deliver(), fair.suspend_flow.wait())
    assert ran_in == [asyncio.current_task()] and done.results == ["delivered"] and not done.stopped
    print("in_place")

    # a queue under pressure (faust's on_buffer_full): faust's own path, a task that can be given up
    fair._buffered_partitions.add(TP(INGRESS_TOPIC, 0))
    done = await fair.wait_first(deliver(), fair.suspend_flow.wait())
    assert ran_in[-1] is not asyncio.current_task() and done.results == ["delivered"]
    fair._buffered_partitions.clear()
    print("under_pressure")

    # the flow stopped (a rebalance begins): faust's path gives a delivery that waits up
    fair.stop_flow()
    delivered: list[bool] = []

    async def blocked() -> None:
        await asyncio.get_running_loop().create_future()
        delivered.append(True)

    done = await fair.wait_first(blocked(), fair.suspend_flow.wait())
    assert done.results == [True] and delivered == []  # the event's wait won; nothing delivered
    print("flow_stopped")


if __name__ == "__main__":
    asyncio.run(main())
