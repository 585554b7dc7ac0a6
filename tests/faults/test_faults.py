"""Faults while a producer submits a known mix: a broker SIGKILLed, the processor SIGKILLed, the
whole cluster restarted, a broker paused (SIGSTOP). After each, every accepted envelope is in every
addressed inbox (once after the inbox client's dedup), every refused one is in quarantine with its
reason, the audit log has each expected event exactly once and verifies, and neither the processor
nor the audit writer has exited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.bus.kafka import end_offsets
from tests.bus.world import DEPARTMENTS, UNIVERSITIES
from tests.checker import DeliveryReport
from tests.faults.conftest import Stack, topics_named
from tests.faults.harness import Outputs, SteadyProducer, build_mix

pytestmark = [pytest.mark.cluster, pytest.mark.faults]

COUNT = 200
PAUSE = 30.0  # seconds a broker hangs in test_broker_sigstop (the length seen to stall delivery whole)
SETTLE = 60.0  # passing runs settle within ~4 s of the last send; a failure should not eat the CI budget

Fault = Callable[[Stack, SteadyProducer], Awaitable[None]]
Record = Callable[[str, object], None]


async def _run(stack: Stack, fault: Fault, seed: int, record_property: Record) -> DeliveryReport:
    mix = build_mix(stack.world, COUNT, seed)
    orgs = ["G03", *DEPARTMENTS, *UNIVERSITIES]
    outputs = Outputs(stack.kafka, stack.audit, orgs)
    start = await end_offsets(stack.kafka, outputs.topics())
    producer = SteadyProducer(stack.kafka, mix)
    began = time.monotonic()
    sending = asyncio.create_task(producer.run())
    try:
        await fault(stack, producer)
        faulted = time.monotonic() - began
        await asyncio.wait_for(sending, 180)
    finally:
        sending.cancel()
    sent = time.monotonic() - began
    report = await outputs.settle(start, producer.submitted(), stack.world.pki, SETTLE)
    counts = report.counts()
    settled = time.monotonic() - began
    print(f"\n{fault.__name__}: {counts}\n  delivered per recipient: {report.delivered}")
    print(f"  fault over at {faulted:.1f} s, all sent at {sent:.1f} s, settled at {settled:.1f} s")
    for name, value in counts.items():
        record_property(name, value)
    assert stack.bus.alive() and stack.writer.alive(), stack.logs()
    assert report.missing == [], (report.missing[:10], stack.logs())
    assert report.lost_rejections == [] and report.wrongly_quarantined == [], report
    assert report.misdelivered == [] and report.duplicated_after_dedup == 0, report
    assert report.audit_missing == [] and report.audit_duplicated == [], report
    assert report.audit_unexpected == [], report
    assert report.audit_verified, report.audit_detail
    assert report.ok and report.submitted == COUNT
    # the faust table changelogs must survive a node down too (DOCBUS_CHANGELOG_REPLICATION=3)
    changelogs = await topics_named(stack.kafka, stack.app_id)
    assert len(changelogs) >= 3 and all(rf == {3} for rf in changelogs.values()), changelogs
    return report


async def kill_broker(stack: Stack, producer: SteadyProducer) -> None:
    """SIGKILL node 2 a third of the way in, bring it back two thirds in."""
    await producer.wait_sent(COUNT // 3)
    await asyncio.to_thread(stack.cluster.stop, [2], kill=True)
    await producer.wait_sent(2 * COUNT // 3, timeout=90)
    await asyncio.to_thread(stack.cluster.start)


async def kill_processor(stack: Stack, producer: SteadyProducer) -> None:
    """SIGKILL `docbus bus run` mid-stream; restart it once a few more envelopes are in."""
    await producer.wait_sent(COUNT // 3)
    stack.bus.kill()
    await producer.wait_sent(COUNT // 3 + 30)
    stack.bus.start()


async def restart_cluster(stack: Stack, producer: SteadyProducer) -> None:
    """Stop all three nodes mid-stream (the producer keeps retrying), then start them."""
    await producer.wait_sent(COUNT // 3)
    await asyncio.to_thread(stack.cluster.stop)
    await asyncio.to_thread(stack.cluster.start)


async def pause_broker(stack: Stack, producer: SteadyProducer) -> None:
    """SIGSTOP node 2 a third of the way in for PAUSE seconds (it hangs with its connections open:
    clients notice only by their own timeouts), then SIGCONT."""
    await producer.wait_sent(COUNT // 3)
    stack.cluster.pause([2])
    try:
        await asyncio.sleep(PAUSE)  # the fault's length, not a synchronisation
    finally:
        stack.cluster.pause([2], resume=True)


async def test_broker_sigkill(stack: Stack, record_property: Record) -> None:
    await _run(stack, kill_broker, 1, record_property)


async def test_processor_sigkill(stack: Stack, record_property: Record) -> None:
    await _run(stack, kill_processor, 2, record_property)


async def test_cluster_restart(stack: Stack, record_property: Record) -> None:
    await _run(stack, restart_cluster, 3, record_property)


async def test_broker_sigstop(stack: Stack, record_property: Record) -> None:
    await _run(stack, pause_broker, 4, record_property)
