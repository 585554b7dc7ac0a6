"""`docbus gateway run|client|openapi`: the node's HTTP gateway for e-office systems (docs/GATEWAY.md).

Settings: the node's ``DOCBUS_*`` (home, bootstrap, PKI folder and passphrase) and the gateway's
``DOCBUS_GATEWAY_*`` (docbus/gateway/settings.py); options override them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from docbus.gateway.app import create_app
from docbus.gateway.auth import add_client
from docbus.gateway.runtime import Gateway
from docbus.settings import Settings
from producers.keys import SigningError

__all__ = ["gateway_app", "openapi_document"]

out = Console()
err = Console(stderr=True)
gateway_app = typer.Typer(no_args_is_help=True, help="the node's HTTP gateway for e-office systems")

Orgs = Annotated[list[str], typer.Option("--org", help="an org code (repeatable)")]
Name = Annotated[str, typer.Option("--name", help="the state folder under <home>/gateways (first --org)")]


def _settings(orgs: list[str], name: str, **changes: object) -> Settings:
    update: dict[str, object] = {k: v for k, v in changes.items() if v is not None}
    if orgs:
        update["gateway_orgs"] = orgs
    if name:
        update["gateway_name"] = name
    return Settings().model_copy(update=update)


class _Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and sockets:
            host, port = sockets[0].getsockname()[:2]
            print(f"docbus gateway listening on http://{host}:{port}", flush=True)


@gateway_app.command("run")
def run(
    org: Orgs,
    port: Annotated[int | None, typer.Option("--port", help="0: any free port (printed)")] = None,
    host: Annotated[str | None, typer.Option("--host")] = None,
    name: Name = "",
) -> None:
    """Serve the gateway until interrupted (prints its address once it accepts calls)."""
    settings = _settings(org, name, gateway_port=port, gateway_host=host)
    settings.warn_if_insecure()
    try:
        gateway = Gateway(settings)
    except (SigningError, ValueError, OSError) as exc:
        err.print(f"[red]cannot start:[/] {exc}")
        raise typer.Exit(1) from None
    logging.getLogger("docbus").setLevel(logging.INFO)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sock = socket.socket(socket.AF_INET6 if ":" in settings.gateway_host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.gateway_host, settings.gateway_port))
    config = uvicorn.Config(create_app(gateway), log_level="warning", access_log=False, lifespan="on")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_Server(config).serve(sockets=[sock]))


@gateway_app.command("client")
def client(
    client_id: Annotated[str, typer.Argument(help="the e-office system's client id")],
    org: Orgs,
    name: Name = "",
    secret: Annotated[str, typer.Option("--secret", help="use this secret (default: a new random one)")] = "",
) -> None:
    """Register an e-office system for the orgs it may act for; prints its secret once."""
    settings = _settings(org, name)
    path = settings.gateway_folder(settings.home) / "clients.json"
    try:
        made = add_client(path, client_id, org, secret or None)
    except ValueError as exc:
        err.print(f"[red]not added:[/] {exc}")
        raise typer.Exit(1) from None
    out.print(f"client_id      {client_id}")
    out.print(f"client_secret  {made}")
    err.print(f"(stored hashed in {path}; a running gateway reads it at start)")


@gateway_app.command("openapi")
def openapi() -> None:
    """Print the OpenAPI 3.1 document (docs/openapi.json is this output)."""
    sys.stdout.write(json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n")


def openapi_document() -> dict[str, object]:
    """The document of a gateway serving no org (routes and schemas do not depend on the orgs)."""
    settings = Settings(home=Path("/nonexistent"), pki_dir=Path("/nonexistent"), gateway_orgs=[])
    return create_app(Gateway(settings), manage=False).openapi()
