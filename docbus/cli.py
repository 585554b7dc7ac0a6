"""The `docbus` command. Each area owns its sub-commands; this module only mounts them."""

from __future__ import annotations

import logging

import typer

from docbus.commands.audit import audit_app, evidence_app
from docbus.commands.broker import broker_app, topics_app
from docbus.commands.bus import bus_app, directory_app
from docbus.commands.edxml import edxml_app
from docbus.commands.gateway import gateway_app
from docbus.commands.inbox import inbox, receipt, status
from docbus.commands.pki import pki_app
from docbus.commands.send import send
from docbus.demo import demo

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
app.command()(inbox)
app.command()(receipt)
app.command()(status)
app.add_typer(audit_app, name="audit")
app.add_typer(evidence_app, name="evidence")
app.add_typer(edxml_app, name="edxml")
app.add_typer(gateway_app, name="gateway")


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="debug logging")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
