"""The `docbus` command. Each area owns its sub-commands; this module only mounts them."""

from __future__ import annotations

import logging
import sys
import traceback

import typer
from rich.console import Console
from rich.markup import escape

from docbus.commands.audit import audit_app, evidence_app
from docbus.commands.broker import broker_app, topics_app
from docbus.commands.bus import bus_app
from docbus.commands.directory import directory_app
from docbus.commands.edxml import edxml_app
from docbus.commands.gateway import gateway_app
from docbus.commands.inbox import receipt, status
from docbus.commands.node import node_app
from docbus.commands.pki import pki_app
from docbus.commands.quarantine import quarantine_app
from docbus.commands.send import send
from docbus.commands.stored import inbox_app
from docbus.demo import demo
from docbus.errors import explain

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="docbus: signed document exchange on Kafka",
)
app.add_typer(broker_app, name="broker")
app.add_typer(topics_app, name="topics")
app.command()(demo)
app.add_typer(pki_app, name="pki")
app.add_typer(bus_app, name="bus")
app.add_typer(directory_app, name="directory")
app.command()(send)
app.add_typer(inbox_app, name="inbox")
app.add_typer(node_app, name="node")
app.command()(receipt)
app.command()(status)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(audit_app, name="audit")
app.add_typer(evidence_app, name="evidence")
app.add_typer(edxml_app, name="edxml")
app.add_typer(gateway_app, name="gateway")


_verbose = False


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging, tracebacks on errors"),
) -> None:
    global _verbose
    _verbose = verbose
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # the one-line error says it; the client libraries' own lines would repeat it
        for name in ("aiokafka", "asyncio", "kafka"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def main() -> None:
    """Run the command; any error becomes one line on stderr and a documented exit code
    (docbus/errors.py), with the traceback only under --verbose."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        code = 130
    except Exception as exc:  # the one error handler of the command line
        exit_code, message = explain(exc)
        if _verbose:
            traceback.print_exc()
        if message.startswith(" (see "):  # no arguments: the help was printed
            sys.exit(int(exit_code))
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/] {escape(message)}", highlight=False)
        code = int(exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
