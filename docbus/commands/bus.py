"""`docbus bus run`: the processors in the foreground."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from functools import partial
from typing import Any

import typer
from rich.console import Console

from docbus.settings import Settings
from producers.keys import SigningError

__all__ = ["bus_app"]

bus_app = typer.Typer(no_args_is_help=True, help="The bus processors (faust): validate, route, receipts.")
out = Console()
err = Console(stderr=True)
logger = logging.getLogger(__name__)


def _bounded_stop(worker: type[Any], seconds: float) -> type[Any]:
    """faust's worker whose graceful stop after SIGTERM/SIGINT is bounded: a service that does not
    end within ``seconds`` no longer keeps the process (an operator's stop, systemd, a test's
    teardown), which then exits at once. Safe at any instruction, as a kill is: outputs are stored
    before their input is committed, so what was not committed is decided again (ADR 0001). The
    agents themselves end at once on a stop (consumers/bus/agents/batches.py); the bound is the
    safety net for what faust and the clients may still wait on.

    Once every service has stopped, mode's worker (mode-streaming 0.7) still waits up to 1 s for
    the loop's last tasks to end by themselves and then sleeps 1 s before closing the loop: here
    the tasks left are cancelled at once and the loop gets a few turns to run their ends."""

    class BoundedStop(worker):  # type: ignore[misc]
        signalled = False

        def _schedule_shutdown(self, signum: signal.Signals) -> None:  # mode.Worker's signal hook
            if not self.signalled:
                self.signalled = True
                timer = threading.Timer(seconds, _exit_now, args=(seconds,))
                timer.daemon = True
                timer.start()
            super()._schedule_shutdown(signum)

        def _gather_all(self) -> None:  # mode.Worker: every task left on the loop
            left = [task for task in asyncio.all_tasks(self.loop) if not task.done()]
            for task in left:
                task.cancel()
            if left:
                self.loop.run_until_complete(asyncio.wait(left, timeout=_LAST_TURNS))

        async def _sentinel_task(self) -> None:  # mode.Worker: the loop's last turns before close
            await asyncio.sleep(_LAST_TURNS)

    return BoundedStop


_LAST_TURNS = 0.1  # s: callbacks scheduled by the tasks cancelled last (transports closing) run


def _exit_now(seconds: float) -> None:
    logger.warning(
        "the bus did not stop within %g s of the signal: exiting now (nothing committed is lost)", seconds
    )
    logging.shutdown()
    os._exit(0)


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
        worker = _bounded_stop(Worker, settings.stop_timeout)(
            bus.app, loglevel=settings.log_level, quiet=True
        )
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            if not exc.code or worker.signalled:  # stopped by SIGTERM/SIGINT: the only way out
                raise SystemExit(0) from None
        if time.monotonic() - began > 60:
            failures = 0  # it ran a while: this is a new outage
        failures += 1
        if failures == 1:
            err.print("bus worker ended with an error; starting a new one once the broker answers")
        time.sleep(backoff(failures))  # a worker that fails with the broker there is not restarted hot
        # quietly (one line when it goes, one when it is back) instead of a worker and its traceback
        # per attempt
        asyncio.run(retried("bus: broker", partial(clients.reachable, bus.kafka), logger))
