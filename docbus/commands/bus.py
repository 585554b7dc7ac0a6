"""`docbus bus run`: the processors in the foreground."""

from __future__ import annotations

import typer
from rich.console import Console

from docbus.settings import Settings
from producers.keys import SigningError

__all__ = ["bus_app"]

bus_app = typer.Typer(no_args_is_help=True, help="The bus processors (faust): validate, route, receipts.")
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
