"""`docbus node resync`: put a node's chain position back where the bus holds it.

The bus seals the channel's position into every 01/02 notice it sends the org
(docs/adr/0003-continuity.md); this reads the org's inbox, keeps the notices whose seal verifies and
takes over the newest position when the state folder is behind it (lost, or restored from an old
backup) or forked from it. It says what it found and what it did.
"""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from docbus.commands.common import ORG, node_dir
from docbus.errors import CliError, ExitCode
from docbus.output import JSON, emit
from docbus.pki_folder import TrustFiles
from docbus.settings import Settings
from producers.node_state import NodeState
from producers.reader import ReadError
from producers.resync import ResyncReport, read_positions, resync
from schemas.continuity import DEFAULT_CHANNEL, validate_channel

__all__ = ["node_app"]

node_app = typer.Typer(no_args_is_help=True, help="the sending node's own state")
out = Console()


def _channel(value: str) -> str:
    try:
        return validate_channel(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@node_app.command("resync")
def resync_command(
    org: str = ORG,
    channel: str = typer.Option(
        DEFAULT_CHANNEL, "--channel", callback=_channel, help="the sending product's channel ('' = default)"
    ),
    timeout: float = typer.Option(30.0, "--timeout", help="seconds to read the inbox"),
    as_json: bool = JSON,
) -> None:
    """Resync the org's chain position (one channel) from the bus's sealed notices; explains what it did."""
    settings = Settings()
    policy = TrustFiles(settings.pki).policy
    state = NodeState(node_dir(settings, org) / "state", org, channel)

    async def go() -> ResyncReport:
        notices = await read_positions(settings.connection(org), org, policy, timeout=timeout)
        return await resync(state, notices)

    try:
        report = asyncio.run(go())
    except ReadError as exc:
        raise CliError(ExitCode.PENDING, f"the inbox cannot be read: {exc}") from None
    if as_json:
        bus = report.bus
        emit({
            "org": report.org, "channel": report.channel, "adopted": report.adopted,
            "pending": report.pending,
            "local": {"sequence": report.local.sequence, "last_hash": report.local.last_hash.hex()},
            "bus": None if bus is None else {
                "sequence": bus.sequence, "last_hash": bytes(bus.signing_hash).hex(),
                "notice_id": report.notice_id, "at": report.notice_at,
            },
        })  # fmt: skip
        return
    out.print(report.explain(), highlight=False, markup=False)
