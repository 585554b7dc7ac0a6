"""`docbus bus run` and `docbus directory load|show`."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from consumers.bus.directory_feed import DirectoryFeed
from docbus.directory_load import ensure_topics, publish_entries, seal_entries
from docbus.pki_folder import TrustFiles
from docbus.sector import build_sector
from docbus.settings import ADMIN, DIRECTORY, Settings
from producers.identity import NodeIdentity
from producers.keys import SigningError
from schemas.directory_store import DirectorySnapshot, DirectoryStore

__all__ = ["bus_app", "directory_app"]

bus_app = typer.Typer(no_args_is_help=True, help="The bus processors (faust): validate, route, receipts.")
directory_app = typer.Typer(no_args_is_help=True, help="The sector directory on docbus.directory.")
out = Console()
err = Console(stderr=True)


@bus_app.command()
def run() -> None:
    """Run the processors in the foreground until interrupted (settings: DOCBUS_* environment)."""
    from faust import Worker

    from docbus.wiring import create_bus

    settings = Settings()
    settings.warn_if_insecure()
    try:
        bus = create_bus(settings)
    except (OSError, SigningError) as exc:  # no PKI folder, no bus seal, wrong passphrase
        err.print(f"[red]error:[/] {exc} (PKI folder {settings.pki}; the bus seals as {settings.bus_org})")
        raise typer.Exit(1) from None
    Worker(bus.app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


@directory_app.command()
def load(
    sector: bool = typer.Option(False, "--sector", help="the sector directory of docbus/sector.py"),
    departments: int = typer.Option(63, "--departments", min=1, max=63),
    universities: int = typer.Option(300, "--universities", min=0),
) -> None:
    """Seal the sector's entries as the directory authority, create every active org's inbox,
    publish the entries; prints the snapshot hash nodes put in their envelopes."""
    if not sector:
        err.print("[red]error:[/] say which directory: --sector")
        raise typer.Exit(2)
    settings = Settings()
    try:
        authority = NodeIdentity.from_pki(
            settings.pki, settings.directory_org, settings.pki_passphrase.get_secret_value()
        )
    except SigningError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    entries = seal_entries(build_sector(departments, universities, with_bus=True), authority.seal)

    snapshot = DirectorySnapshot.build(entries)  # an inconsistent directory is never published

    async def go() -> None:
        plan = await ensure_topics(settings.connection(ADMIN), entries)
        out.print(f"topics: {len(plan.create)} created, {len(plan.ok)} in place")
        await publish_entries(settings.connection(DIRECTORY), entries)

    asyncio.run(go())
    out.print(f"{len(entries)} entries published; snapshot {snapshot.hash.hex()}")


@directory_app.command()
def show(code: str = typer.Argument(None, help="one org code; all when omitted")) -> None:
    """Read docbus.directory (checking every seal) and show the current snapshot or one entry."""
    settings = Settings()
    store = DirectoryStore()

    async def go() -> int:
        feed = DirectoryFeed(settings.connection(ADMIN), store, TrustFiles(settings.pki).policy,
                             authority=settings.directory_org)  # fmt: skip
        try:
            await feed.catch_up(settings.directory_timeout)
        finally:
            await feed.stop()
        return feed.refused

    refused = asyncio.run(go())
    snap = store.current
    if snap is None:
        err.print("the directory is empty")
        raise typer.Exit(3)
    out.print(f"snapshot {snap.hash.hex()}  {len(snap)} codes  ({refused} entries refused)")
    table = Table("code", "kind", "status", "parent", "name", "version")
    for entry in snap.entries():
        if code is None or snap.entry(code) is entry:
            status = entry.status.value + (f" -> {entry.successor}" if entry.successor else "")
            table.add_row(entry.code, entry.kind.value, status, entry.parent or "", entry.name,
                          str(entry.version))  # fmt: skip
    out.print(table)
