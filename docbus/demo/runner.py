"""One demo run from nothing: PKI and directory, topics, processors, the exchange, the checks.

Every step prints a line when done; the long waits show a progress bar of what is still expected.
Returns the summary (also written to ``<state>/summary.json``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from consumers.audit.events import AUDIT_EVENTS_TOPIC
from consumers.directory_load import ensure_topics, publish_entries
from consumers.sector import MINISTRY
from docbus.demo.auditcheck import check_audit, settle_audit
from docbus.demo.config import PASSPHRASE, DemoConfig
from docbus.demo.inboxes import InboxHub
from docbus.demo.kafka import end_offsets, header, read_until, start_group_at_end
from docbus.demo.processes import Processors
from docbus.demo.tally import Tally
from docbus.demo.traffic import Senders, clerk_for, letters, refusers, send_letters
from docbus.demo.world import build_world, university
from infra.topics import TopicSpec, apply
from producers.identity import trust_policy_from_pki
from producers.publisher import INGRESS, RECEIPTS
from schemas.codec import decode
from schemas.quarantine import QuarantineRecord

__all__ = ["DemoFailed", "run_demo"]

QUARANTINE = "docbus.quarantine"


class DemoFailed(RuntimeError):
    """A processor died or the exchange did not finish in time (the summary says what is missing)."""


def _progress(out: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=out)  # fmt: skip


async def run_demo(cfg: DemoConfig, out: Console, *, keep_running: bool) -> dict[str, Any]:
    began = time.monotonic()

    def done(text: str) -> None:
        out.print(f"[green]✓[/] {text}")

    with out.status("PKI ceremony: root and issuing CA, seals, officials, audit key..."):
        world = build_world(cfg.pki, PASSPHRASE, cfg.departments, cfg.universities)
    done(f"PKI in {cfg.pki}: {len(world.entries) - 1} organisation seals, audit key, "
         f"one official's certificate revoked and the CRL published")  # fmt: skip
    with out.status("creating topics and publishing the directory..."):
        plan = await ensure_topics(cfg.bootstrap, world.entries)
        audit = [TopicSpec(t, 1, 1, retention_ms=-1) for t in (cfg.audit_topic, cfg.checkpoint_topic)]
        await apply(cfg.bootstrap, audit)
        await publish_entries(cfg.bootstrap, world.entries)
    done(
        f"directory sealed by G03 and published: {len(world.entries)} codes, {len(world.departments)} "
        f"departments (H64 closed -> H01); {len(plan.create)} topics created, {len(plan.ok)} in place"
    )

    # this run's groups start at the current end: nothing earlier on the broker is processed again
    await start_group_at_end(cfg.bootstrap, cfg.app_id, [INGRESS, RECEIPTS])
    await start_group_at_end(cfg.bootstrap, cfg.audit_group, [AUDIT_EVENTS_TOPIC])
    quarantine_start = await end_offsets(cfg.bootstrap, [QUARANTINE])
    processors = Processors(cfg.processor_env(), cfg.state)
    processors.start()
    done(f"processors started: `docbus bus run` (group {cfg.app_id}) and `docbus audit writer`")

    policy = trust_policy_from_pki(cfg.pki)
    tally = Tally()
    refusing = refusers(world.departments)
    hub = InboxHub(world, cfg.bootstrap, cfg.state, policy, tally, clerk_for(refusing))
    watched = [MINISTRY, *world.departments, *(university(i) for i in range(1, min(cfg.universities, 4) + 1))]
    try:
        await hub.start(watched)
        done(f"inbox clients of {len(watched)} organisations listening")
        t0 = time.monotonic()
        senders = Senders(world, cfg.bootstrap, cfg.state, policy, wait=cfg.timeout)
        all_letters = letters(cfg.universities, senders.today)
        with _progress(out) as progress:
            task = progress.add_task("exchange: deliveries, 01 receipts, clerks' 03/02, refusals", total=None)
            sending = asyncio.create_task(send_letters(senders, tally, all_letters))
            await _wait(lambda: tally.complete and sending.done(), processors, hub, cfg.timeout,
                        lambda: progress.update(task, total=tally.total() or None,
                                                completed=tally.total() - tally.waiting_for()))  # fmt: skip
            await sending
        exchange_s = time.monotonic() - t0
        done(f"exchange complete in {exchange_s:.1f} s")
    except DemoFailed:
        await hub.stop()
        processors.stop()
        raise
    await hub.stop()

    with out.status("reading the quarantine..."):
        await _quarantined(cfg, tally, quarantine_start)
    ids = [d.message_id for d in tally.documents.values()] + [r.message_id for r in tally.rejections.values()]
    minimum = sum(2 + 3 * len(d.expected) for d in tally.documents.values()) + 2 * len(tally.rejections)
    with out.status("waiting for the audit writer's checkpoint, then verifying the log..."):
        view = await settle_audit(cfg, ids, minimum, timeout=60)
        check = check_audit(cfg, view, ids)
    done("audit log verified" if check.ok else "audit log checked")
    if not keep_running:
        with out.status("stopping the processors..."):
            processors.stop()
    summary = _summary(cfg, tally, check, exchange_s, time.monotonic() - began, keep_running)
    cfg.summary_file.write_text(json.dumps(summary, ensure_ascii=False, indent=2))
    return summary


async def _wait(
    finished: Callable[[], bool],
    processors: Processors,
    hub: InboxHub,
    timeout: float,
    tick: Callable[[], None],
) -> None:
    deadline = time.monotonic() + timeout
    while not finished():
        tick()
        if processors.dead():
            raise DemoFailed(f"{', '.join(processors.dead())} exited: see the logs")
        if (exc := hub.failed()) is not None:
            raise DemoFailed(f"the inbox clients failed: {exc!r}")
        if time.monotonic() > deadline:
            return  # the summary shows what is missing
        await asyncio.sleep(0.2)  # the counts change from other tasks: look again
    tick()


async def _quarantined(cfg: DemoConfig, tally: Tally, start: dict[Any, int]) -> None:
    wanted = {r.message_id: r for r in tally.rejections.values()}

    def mine(records: list[Any]) -> list[QuarantineRecord]:
        found = [
            decode(r.value, QuarantineRecord) for r in records if header(r, "docbus_processor") == cfg.app_id
        ]
        return [q for q in found if q.message_id in wanted]

    for q in mine(
        await read_until(cfg.bootstrap, start, lambda rs: len(mine(rs)) >= len(wanted), timeout=30)
    ):
        wanted[q.message_id or ""].quarantined = q.reason.value


def _summary(
    cfg: DemoConfig, tally: Tally, check: Any, exchange_s: float, elapsed_s: float, kept: bool
) -> dict[str, Any]:
    documents = [d.as_json() for d in tally.documents.values()]
    for doc, d in zip(documents, tally.documents.values(), strict=True):
        doc["first"] = sorted(d.expected)[0] if d.expected else d.sender
    return {
        "run": cfg.run, "departments": cfg.departments, "universities": cfg.universities,
        "documents": documents, "rejected": [r.as_json() for r in tally.rejections.values()],
        "complete": tally.complete and tally.quarantined, "inbox_events": dict(tally.events),
        "audit": check.as_json(),
        "topics": {"audit": cfg.audit_topic, "checkpoints": cfg.checkpoint_topic},
        "exchange_s": round(exchange_s, 2), "elapsed_s": round(elapsed_s, 2), "kept_running": kept,
        "summary_file": str(cfg.summary_file), "env": cfg.env(),
    }  # fmt: skip
