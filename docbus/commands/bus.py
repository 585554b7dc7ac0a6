"""`docbus bus run`: the processors in the foreground."""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

import typer
from rich.console import Console

from docbus.settings import Settings
from producers.keys import SigningError

__all__ = ["bus_app"]

bus_app = typer.Typer(no_args_is_help=True, help="The bus processors (faust): validate, route, receipts.")
out = Console()
err = Console(stderr=True)
logger = logging.getLogger(__name__)


@bus_app.command()
def run() -> None:
    """Run the processors in the foreground until interrupted (settings: DOCBUS_* environment)."""
    from faust import Worker

    from consumers.bus import clients
    from consumers.outage import backoff, retried
    from docbus.wiring import create_bus

    settings = Settings()
    settings.warn_if_insecure()
    failures = 0
    while True:
        # a fresh loop and app per run: faust ends a worker whose start meets a broker away (its
        # producer or consumer cannot bootstrap) or whose consumer crashes; the process does not end
        asyncio.set_event_loop(asyncio.new_event_loop())
        try:
            bus = create_bus(settings)
        except (OSError, SigningError) as exc:  # no PKI folder, no bus seal, wrong passphrase
            where = f"PKI folder {settings.pki}; the bus seals as {settings.bus_org}"
            err.print(f"[red]error:[/] {exc} ({where})")
            raise typer.Exit(1) from None
        began = time.monotonic()
        try:
            Worker(bus.app, loglevel=settings.log_level, quiet=True).execute_from_commandline()
        except SystemExit as exc:
            if not exc.code:  # stopped by SIGTERM/SIGINT: the only way out
                raise
        if time.monotonic() - began > 60:
            failures = 0  # it ran a while: this is a new outage
        failures += 1
        if failures == 1:
            err.print("bus worker ended with an error; starting a new one once the broker answers")
        time.sleep(backoff(failures))  # a worker that fails with the broker there is not restarted hot
        # quietly (one line when it goes, one when it is back) instead of a worker and its traceback
        # per attempt
        asyncio.run(retried("bus: broker", partial(clients.reachable, bus.kafka), logger))
