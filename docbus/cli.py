"""The `docbus` command. Each area owns its sub-commands; this module only mounts them."""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from collections.abc import Iterable, Sequence

import typer
from rich.console import Console
from rich.markup import escape

from docbus.errors import explain

# name -> (module, attribute, a group of sub-commands or one command), in the order `docbus --help`
# lists them. A run imports only the module of the command it runs (a node's `docbus send` loads
# neither the gateway's web stack nor the audit core); the help and an unknown name load them all.
_MOUNTS: dict[str, tuple[str, str, bool]] = {
    "broker": ("docbus.commands.broker", "broker_app", True),
    "topics": ("docbus.commands.broker", "topics_app", True),
    "demo": ("docbus.demo", "demo", False),
    "pki": ("docbus.commands.pki", "pki_app", True),
    "bus": ("docbus.commands.bus", "bus_app", True),
    "directory": ("docbus.commands.directory", "directory_app", True),
    "send": ("docbus.commands.send", "send", False),
    "inbox": ("docbus.commands.stored", "inbox_app", True),
    "node": ("docbus.commands.node", "node_app", True),
    "receipt": ("docbus.commands.inbox", "receipt", False),
    "status": ("docbus.commands.inbox", "status", False),
    "quarantine": ("docbus.commands.quarantine", "quarantine_app", True),
    "audit": ("docbus.commands.audit", "audit_app", True),
    "evidence": ("docbus.commands.audit", "evidence_app", True),
    "edxml": ("docbus.commands.edxml", "edxml_app", True),
    "gateway": ("docbus.commands.gateway", "gateway_app", True),
}

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="docbus: signed document exchange on Kafka",
)


def mount(names: Iterable[str]) -> typer.Typer:
    """Mount the named commands (importing their modules) on the one ``app``."""
    for name in names:
        module, attribute, group = _MOUNTS[name]
        target = getattr(importlib.import_module(module), attribute)
        if group:
            app.add_typer(target, name=name)
        else:
            app.command(name=name)(target)
    return app


def command_named(argv: Sequence[str]) -> str | None:
    """The command a command line runs: its first word that is not an option of the root."""
    first = next((word for word in argv if not word.startswith("-")), None)
    return first if first in _MOUNTS else None


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
    name = command_named(sys.argv[1:])
    mount([name] if name else list(_MOUNTS))
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
