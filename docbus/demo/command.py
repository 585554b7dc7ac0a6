"""`docbus demo`: the exchange a newcomer runs first, on a local broker it starts itself.

``--bootstrap`` runs it against a broker that is already up (the test suite's) and leaves that
broker alone; ``--keep-running`` leaves broker and processors up for the commands it prints;
``--stop`` ends what a kept-running demo left behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from docbus.demo.config import DemoConfig
from docbus.demo.processes import stop_recorded
from docbus.demo.report import print_summary
from docbus.demo.runner import DemoFailed, hold_ceremony, run_demo
from docbus.local_broker import MARKER, local_cluster, record_broker
from docbus.settings import Settings
from infra.broker import BrokerError, Cluster

__all__ = ["demo"]

out = Console()


def _stop(state: Path, *, quiet: bool = False) -> None:
    home = Settings().home.resolve()
    if not (state / "pids.json").exists() and (home / MARKER).exists():
        state = home  # run with the environment the demo printed: DOCBUS_HOME is the state folder
    stopped = stop_recorded(state)
    if stopped or not quiet:
        out.print(f"processors stopped: {', '.join(stopped)}" if stopped else "no demo processors running")
    marker = state / MARKER
    if marker.exists():
        if json.loads(marker.read_text()).get("owned"):
            local_cluster(1, Settings(home=state)).stop()
            out.print("broker stopped")
        marker.unlink()


def demo(
    departments: int = typer.Option(63, "--departments", min=3, max=63, help="provincial departments (Sở)"),
    universities: int = typer.Option(300, "--universities", min=4, help="universities in the directory"),
    keep_running: bool = typer.Option(False, "--keep-running", help="leave broker and processors up"),
    stop: bool = typer.Option(False, "--stop", help="stop what a --keep-running demo left up, and exit"),
    bootstrap: str = typer.Option("", "--bootstrap", help="use this running broker; do not start one"),
    state: Annotated[
        Path | None, typer.Option("--state", help="demo state folder (default <DOCBUS_HOME>/demo)")
    ] = None,
    timeout: float = typer.Option(150.0, "--timeout", help="seconds the exchange may take"),
) -> None:
    """The ministry's directive to every department, dispatches between universities, two envelopes
    the bus must refuse; receipts, quarantine and the verified audit log, summed up at the end."""
    # earlier runs' (or other exchanges') directory entries and notices fail this run's PKI, and
    # hundreds of new topics elect their leaders while the directory is produced (retried): expected
    for name in ("producers.directory_view", "producers.send", "aiokafka.producer.sender"):
        logging.getLogger(name).setLevel(logging.ERROR)
    settings = Settings()
    folder = (state or settings.home / "demo").resolve()
    if stop:
        _stop(folder)
        return
    _stop(folder, quiet=True)  # a previous run left with --keep-running: its processors and broker go first
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    settings.warn_if_insecure()
    if bootstrap and not settings.insecure:
        out.print("[red]error:[/] a secured broker trusts only its own PKI, and the demo holds a new one: "
                  "run without --bootstrap (or, unsecured, with DOCBUS_INSECURE=1)")  # fmt: skip
        raise typer.Exit(2)
    cfg = DemoConfig(departments, universities, folder, bootstrap, secured=not settings.insecure,
                     timeout=timeout)  # fmt: skip
    world = hold_ceremony(cfg, out)
    cluster: Cluster | None = None
    if not bootstrap:
        # secured: the demo's own broker under its state folder, trusting this run's PKI
        own = {"home": folder, "pki_dir": cfg.pki}
        home = settings if settings.insecure else settings.model_copy(update=own)
        cluster = local_cluster(1, home)
        started = not cluster.running()
        try:
            with out.status("starting Apache Kafka (KRaft) on loopback..."):
                cluster.start()
        except BrokerError as exc:
            out.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
        record_broker(folder, cluster, home, owned=started)
        if not started:
            cluster = None  # someone else's broker: never stopped by the demo
        cfg = dataclasses.replace(cfg, bootstrap=local_cluster(1, home).bootstrap)
        how = "mTLS on every listener, ACLs enforced" if cfg.secured else "[yellow]PLAINTEXT, no ACLs[/]"
        out.print(f"[green]✓[/] broker up at {cfg.bootstrap} ({how})")
    ok = False
    try:
        summary = asyncio.run(run_demo(cfg, world, out, keep_running=keep_running))
        print_summary(out, summary)
        ok = summary["complete"] and summary["audit"]["ok"]
    except DemoFailed as exc:
        out.print(f"[red]demo failed:[/] {exc} (logs in {cfg.logs})")
    finally:
        if cluster is not None and not (keep_running and ok):
            cluster.stop()
            (folder / MARKER).unlink(missing_ok=True)
            out.print("broker stopped")
    if not ok:
        raise typer.Exit(1)
