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

from docbus.demo.auditcheck import check_audit, settle_audit
from docbus.demo.config import PASSPHRASE, DemoConfig
from docbus.demo.inboxes import InboxHub
from docbus.demo.kafka import end_offsets, start_group_at_end
from docbus.demo.processes import Processors
from docbus.demo.summary import build_summary, read_quarantine
from docbus.demo.tally import Tally
from docbus.demo.traffic import Senders, clerk_for, letters, refusers, send_letters
from docbus.demo.world import DemoWorld, build_world, university
from docbus.directory_load import ensure_topics, publish_entries
from docbus.pki_folder import trust_policy_from_pki
from docbus.sector import MINISTRY
from docbus.settings import ADMIN, DIRECTORY
from infra.acls import apply_acls, desired_acls, load_policy
from infra.quotas import apply_quotas, desired_quotas
from infra.security import QUOTA_SERVICES
from infra.topics import TopicSpec, apply
from schemas.errors import OperationError
from schemas.reasons import Reason
from schemas.topics import AUDIT_EVENTS_TOPIC, INGRESS_TOPIC, QUARANTINE_TOPIC, RECEIPTS_TOPIC

__all__ = ["DemoFailed", "hold_ceremony", "run_demo"]


class DemoFailed(OperationError, RuntimeError):
    """A processor died or the exchange did not finish in time (the summary says what is missing)."""

    REASON = Reason.DEMO_FAILED


def _progress(out: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=out)  # fmt: skip


def hold_ceremony(cfg: DemoConfig, out: Console) -> DemoWorld:
    """The PKI, before the broker starts: a secured broker trusts this PKI's root."""
    with out.status("PKI ceremony: root and issuing CA, seals, officials, audit key, TLS logins..."):
        world = build_world(cfg.pki, PASSPHRASE, cfg.departments, cfg.universities)
    out.print(f"[green]✓[/] PKI in {cfg.pki}: {len(world.entries) - 1} organisation seals and TLS "
              "logins, audit key, one official's certificate revoked and the CRL published")  # fmt: skip
    return world


async def run_demo(cfg: DemoConfig, world: DemoWorld, out: Console, *, keep_running: bool) -> dict[str, Any]:
    began = time.monotonic()

    def done(text: str) -> None:
        out.print(f"[green]✓[/] {text}")
    with out.status("creating topics and publishing the directory..."):
        admin = cfg.connection(ADMIN)
        plan = await ensure_topics(admin, world.entries)
        audit = [TopicSpec(t, 1, 1, retention_ms=-1) for t in (cfg.audit_topic, cfg.checkpoint_topic)]
        await apply(admin, audit)
        if cfg.secured:  # each org its own inbox; processors, audit writer, directory their topics
            orgs = [e.code for e in world.entries if e.active]
            wanted = desired_acls(orgs, load_policy(), audit_topics=[cfg.audit_topic, cfg.checkpoint_topic])
            granted = len((await apply_acls(admin, wanted)).create)
            await apply_quotas(admin, desired_quotas(QUOTA_SERVICES))
            done(f"ACLs ({granted}) and per-principal quotas applied: {len(orgs)} orgs, processors, "
                 "audit writer, directory authority")  # fmt: skip
        await publish_entries(cfg.connection(DIRECTORY), world.entries)
    done(
        f"directory sealed by G03 and published: {len(world.entries)} codes, {len(world.departments)} "
        f"departments (H64 closed -> H01); {len(plan.create)} topics created, {len(plan.ok)} in place"
    )

    # this run's groups start at the current end: nothing earlier on the broker is processed again
    admin = cfg.connection(ADMIN)
    await start_group_at_end(admin, cfg.app_id, [INGRESS_TOPIC, RECEIPTS_TOPIC])
    await start_group_at_end(admin, cfg.audit_group, [AUDIT_EVENTS_TOPIC])
    quarantine_start = await end_offsets(admin, [QUARANTINE_TOPIC])
    processors = Processors(cfg.processor_env(), cfg.state)
    processors.start()
    done(f"processors started: `docbus bus run` (group {cfg.app_id}) and `docbus audit writer`")
    kept = False
    try:
        tally, exchange_s = await _exchange(cfg, world, processors, out)
        with out.status("reading the quarantine..."):
            await read_quarantine(cfg, tally, quarantine_start)
        ids = [d.message_id for d in tally.documents.values()]
        ids += [r.message_id for r in tally.rejections.values()]
        minimum = sum(2 + 3 * len(d.expected) for d in tally.documents.values()) + 2 * len(tally.rejections)
        with out.status("waiting for the audit writer's checkpoint, then verifying the log..."):
            view = await settle_audit(cfg, ids, minimum, timeout=60)
            check = check_audit(cfg, view, ids)
        done("audit log verified" if check.ok else "[red]audit log does not verify[/]")
        kept = keep_running
    finally:
        if not kept:  # an error or Ctrl-C included: nothing is left running
            with out.status("stopping the processors..."):
                processors.stop()
    summary = build_summary(cfg, tally, check, exchange_s, time.monotonic() - began, kept)
    cfg.summary_file.write_text(json.dumps(summary, ensure_ascii=False, indent=2))
    return summary


async def _exchange(
    cfg: DemoConfig, world: DemoWorld, processors: Processors, out: Console
) -> tuple[Tally, float]:
    """Inbox clients listening, letters sent, until every count is in or ``cfg.timeout`` passes."""
    policy = trust_policy_from_pki(cfg.pki)
    tally = Tally()
    hub = InboxHub(world, cfg.connection, cfg.state, policy, tally, clerk_for(refusers(world.departments)))
    watched = [MINISTRY, *world.departments, *(university(i) for i in range(1, min(cfg.universities, 4) + 1))]
    try:
        await hub.start(watched)
        out.print(f"[green]✓[/] inbox clients of {len(watched)} organisations listening")
        t0 = time.monotonic()
        senders = Senders(world, cfg.connection, cfg.state, policy, wait=cfg.timeout)
        sending = asyncio.create_task(send_letters(senders, tally, letters(cfg.universities, senders.today)))
        try:
            with _progress(out) as progress:
                task = progress.add_task(
                    "exchange: deliveries, 01 receipts, clerks' 03/02, refusals", total=None
                )

                def tick() -> None:
                    progress.update(
                        task, total=tally.total() or None, completed=tally.total() - tally.waiting_for()
                    )

                await _wait(lambda: tally.complete and sending.done(), processors, hub, cfg.timeout, tick)
            if sending.done():
                await sending  # its error, if any
        finally:
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
        exchange_s = time.monotonic() - t0
    finally:
        await hub.stop()
    if tally.complete:
        out.print(f"[green]✓[/] exchange complete in {exchange_s:.1f} s")
    else:
        out.print(
            f"[red]✗[/] exchange incomplete after {exchange_s:.1f} s: {tally.waiting_for()} outcomes missing"
        )
    return tally, exchange_s


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
