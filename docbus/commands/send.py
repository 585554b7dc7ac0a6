"""`docbus send`: sign a document as an org's official and seal, publish it, wait for the bus.

Settings come from the same ``DOCBUS_*`` environment as the bus (home, bootstrap, PKI folder and
passphrase); the node keeps its chain position in ``<home>/nodes/<org>/state``.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from consumers.bus.decide.routing import RoutingError, route
from consumers.trust import TrustPolicy
from docbus.commands.common import ORG, identity, node_dir
from docbus.commands.token import PinEnv, PinFile, TokenCert, TokenKey, TokenLabel, TokenModule, token_options
from docbus.errors import CliError, ExitCode
from docbus.pki_folder import TrustFiles
from docbus.settings import Settings
from producers.builder import DocumentDraft
from producers.directory_view import DirectoryView
from producers.send import Sender, SendResult
from schemas.continuity import validate_channel
from schemas.document import BusinessType, Competence, DocumentType, Priority

__all__ = ["node_dir", "send"]

out = Console()
err = Console(stderr=True)


def send(
    file: Annotated[Path, typer.Option("--file", exists=True, dir_okay=False, help="the document")],
    org: str = ORG,
    to: Annotated[list[str] | None, typer.Option("--to", help="recipient org code (repeatable)")] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", help="all-<kind>, children:<code>, list:<name>")
    ] = None,
    doc_type: Annotated[
        DocumentType, typer.Option("--type", help="ND 30 document type")
    ] = DocumentType.CONG_VAN,
    number: str = typer.Option(..., "--number", help="số"),
    notation: str = typer.Option(..., "--notation", help="ký hiệu"),
    subject: str = typer.Option(..., "--subject", help="trích yếu"),
    attach: Annotated[list[Path] | None, typer.Option("--attach", exists=True, dir_okay=False)] = None,
    official: str = typer.Option("*", "--official", help="official's name or slug; * = the first"),
    priority: int = typer.Option(0, "--priority", min=0, max=4, help="0 normal .. 4 hỏa tốc hẹn giờ"),
    place: str = typer.Option("Hà Nội", "--place", help="promulgation place"),
    promulgated: str = typer.Option("", "--date", help="promulgation date YYYY-MM-DD (today)"),
    competence: Annotated[Competence, typer.Option("--competence")] = Competence.NONE,
    response_for: str = typer.Option("", "--response-for", help="document id this answers"),
    business: Annotated[BusinessType, typer.Option("--business")] = BusinessType.NEW,
    wait: bool = typer.Option(True, "--wait/--no-wait", help="wait for the bus's 01/02 notice"),
    timeout: float = typer.Option(30.0, "--timeout", help="seconds to wait for the notice"),
    token: TokenLabel = None,
    token_module: TokenModule = "",
    token_key: TokenKey = "",
    pin_file: PinFile = None,
    pin_env: PinEnv = "DOCBUS_TOKEN_PIN",
    token_cert: TokenCert = None,
    channel: str = typer.Option(
        "", "--channel", help="the sending product's channel: its own sequence chain ('' = the org's default)"
    ),
) -> None:
    """Send a signed document to the bus (exit 1: refused; 3: no notice in time; others: OPERATIONS.md).
    With --token the official signs on a PKCS#11 token; the seal stays the PKI folder's."""
    settings = Settings()
    try:
        validate_channel(channel)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--channel") from None
    spec = token_options(token, token_module, token_key, pin_file, pin_env, token_cert)
    sender = identity(settings, org, official, token=spec)
    fields: dict[str, Any] = {
        "document_type": doc_type, "code_number": number, "code_notation": notation, "subject": subject,
        "recipients": to or [], "groups": group or [], "promulgation_place": place,
        "promulgation_date": date.fromisoformat(promulgated) if promulgated else None,
        "competence": competence, "priority": Priority(priority), "response_for": response_for or None,
        "business_type": business,
    }  # fmt: skip
    policy = TrustFiles(settings.pki).policy

    async def go() -> SendResult:
        snapshot = await _addresses_known(settings, policy, sender.org_code, to or [], group or [])
        waiting = timeout if wait else None
        async with Sender(
            sender, settings.connection(sender.org_code), node_dir(settings, sender.org_code) / "state",
            policy=policy, watch=waiting is not None, inline_max=settings.inline_max_bytes,
            chunk_size=settings.chunk_bytes, channel=channel,
        ) as node:  # fmt: skip
            # files above the inline threshold go to docbus.blobs as chunks first, then the envelope
            payload = await node.attach(file)
            attachments = [await node.attach(p) for p in attach or []]
            draft = DocumentDraft(payload=payload, attachments=attachments, **fields)
            return await node.send(draft, wait=waiting, directory_snapshot=snapshot)

    _report(asyncio.run(go()), wait)


async def _addresses_known(
    settings: Settings, policy: TrustPolicy, org: str, to: list[str], groups: list[str]
) -> bytes:
    """The current snapshot's hash, once every address resolves in it (the bus would refuse it)."""
    view = DirectoryView(settings.connection(org), policy=policy, authority=settings.directory_org)
    try:
        snapshot = await view.refresh(timeout=settings.directory_timeout)
    finally:
        await view.stop()
    if snapshot is None:
        raise CliError(ExitCode.PENDING, "no directory published yet: docbus directory publish (or load)")
    try:
        route(snapshot, org, to, groups)
    except RoutingError as exc:
        raise CliError(ExitCode.REFUSED, f"{exc}; check the codes with docbus directory show") from None
    return snapshot.hash


def _report(result: SendResult, waited: bool) -> None:
    out.print(f"message id   {result.message_id}")
    out.print(f"document id  {result.document_id}")
    out.print(f"sequence     {result.sequence}   ({result.topic}[{result.partition}]@{result.offset})")
    for earlier in result.signed_again:  # an earlier --no-wait send the bus had not counted
        err.print(f"[yellow]signed again[/] {earlier}: the bus had not counted it (the node resynced first)")
    if not waited:
        return
    outcome = result.outcome
    if outcome is None:
        err.print("[yellow]no notice from the bus yet[/] (see `docbus inbox` or `docbus status`)")
        raise typer.Exit(3)
    if outcome.accepted:
        out.print(f"[green]accepted by the bus[/] at {outcome.at.isoformat()}")
        if outcome.reason:  # e.g. a closed code redirected to its successor
            out.print(f"[yellow]{outcome.reason}[/]")
    else:
        err.print(f"[red]rejected by the bus:[/] {outcome.reason}")
        raise typer.Exit(1)
