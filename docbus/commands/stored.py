"""`docbus inbox show | open | export <message id>`: what a clerk received, from the local store.

``docbus inbox`` with no sub-command still receives (``docbus inbox --org H01``): the group routes
anything that is not one of its sub-commands to ``receive``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from consumers.inbox.store import InboxStore
from docbus.commands.common import ORG, node_dir
from docbus.commands.inbox import inbox
from docbus.document_view import header_json, write_document
from docbus.errors import CliError, ExitCode
from docbus.output import JSON, emit
from docbus.settings import Settings
from schemas.envelope import Envelope, parse_envelope

__all__ = ["inbox_app"]

out = Console()
err = Console(stderr=True)


class _InboxGroup(TyperGroup):
    """`docbus inbox --org X` receives; `docbus inbox show|open|export ...` reads the store."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # click.Context (vendored)
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["receive", *args]
        elif not args:
            args = ["receive"]
        return super().parse_args(ctx, args)


inbox_app = typer.Typer(
    cls=_InboxGroup, help="Receive this org's documents, or show, open and export a stored one."
)
inbox_app.command("receive")(inbox)

MessageId = Annotated[str, typer.Argument(help="the envelope's message id (docbus inbox --list)")]


def _stored(org: str, message_id: str) -> tuple[InboxStore, Envelope, bytes]:
    store = InboxStore(node_dir(Settings(), org) / "inbox")
    if not store.has(message_id):
        hint = f"run `docbus inbox --org {org}` first, or see `docbus inbox --org {org} --list`"
        raise CliError(ExitCode.REFUSED, f"{message_id} is not in {org}'s inbox store: {hint}")
    raw = store.envelope_bytes(message_id)
    return store, parse_envelope(raw), raw


def _files(store: InboxStore, message_id: str) -> list[Path]:
    folder = store.folder(message_id) / "files"
    return [folder / name for name in store.meta(message_id).get("files", [])]


def _verdicts(store: InboxStore, message_id: str) -> dict[str, Any]:
    meta = store.meta(message_id)
    return {"received_at": meta["received_at"], "verification": meta["verification"],
            "receipt_sent": store.receipt_sent(message_id),
            "receipts": [r for r in store.receipts() if r["envelope_id"] == message_id]}  # fmt: skip


@inbox_app.command()
def show(message_id: MessageId, org: str = ORG, as_json: bool = JSON) -> None:
    """A stored document's header fields, signatures with their verdict at receipt, files, receipts."""
    store, env, _ = _stored(org, message_id)
    view = header_json(env) | _verdicts(store, message_id)
    if as_json:
        emit(view)
        return
    doc = view["document"]
    head = Table("field", "value", title=f"{message_id} from {env.sender.code} {env.sender.name}")
    for name in ("document_id", "document_type", "subject", "promulgation_place", "promulgation_date",
                 "priority", "due_date", "response_for", "business_type"):  # fmt: skip
        if doc.get(name) not in (None, ""):
            head.add_row(name, str(doc[name]))
    head.add_row("recipients", ", ".join([*env.recipients, *env.groups]))
    head.add_row("received at", view["received_at"][:19])
    out.print(head)
    verdict = view["verification"]["result"]
    sigs = Table(
        "role", "signer", "position", "serial", "algorithm", "signed at", "verdict", title="signatures"
    )
    for s in view["signatures"]:
        sigs.add_row(s["role"], s["name"], s["position"], s["serial"][:16], s["algorithm"],
                     s["signing_time"][:19], verdict)  # fmt: skip
    out.print(sigs)
    files = Table("file", "type", "size", "sha256", title="files")
    for p in [view["payload"], *view["attachments"]]:
        files.add_row(p["name"], p["content_type"], str(p["size"]), p["sha256"][:16])
    out.print(files)
    for r in view["receipts"]:
        out.print(f"  {r['at'][:19]} {r['kind']} {r['status']} from {r['from']} (seal {r['seal']})")


@inbox_app.command("open")
def open_(
    message_id: MessageId,
    org: str = ORG,
    attachment: Annotated[
        str, typer.Option("--file", help="an attachment's name (default: the document)")
    ] = "",
    stdout: Annotated[bool, typer.Option("--stdout", help="write its bytes to stdout instead")] = False,
) -> None:
    """Open the stored document (or one attachment) with the desktop's viewer, or write it to stdout."""
    store, env, _ = _stored(org, message_id)
    files = _files(store, message_id)
    names = [p.file_name for p in (env.payload, *env.attachments)]
    chosen = files[0] if not attachment else next((f for f, n in zip(files, names, strict=False)
                                                  if attachment in (n, f.name)), None)  # fmt: skip
    if chosen is None:
        raise CliError(
            ExitCode.REFUSED, f"{message_id} has no file {attachment!r}: it has {', '.join(names)}"
        )
    if stdout:
        typer.echo(chosen.read_bytes(), nl=False)
        return
    try:
        opened = typer.launch(str(chosen)) == 0
    except OSError:  # no xdg-open / open on this machine (a server)
        opened = False
    if not opened:
        raise CliError(ExitCode.LOCAL, f"no viewer opened {chosen}: use --stdout, or docbus inbox export")
    err.print(f"opened {chosen}")


@inbox_app.command()
def export(
    message_id: MessageId,
    org: str = ORG,
    to: Annotated[Path, typer.Option("--out", help="folder to write (created)")] = Path("."),
    as_json: bool = JSON,
) -> None:
    """Write header.json, the exact envelope.bin and files/ (document and attachments) into --out."""
    store, env, raw = _stored(org, message_id)
    folder = to / message_id
    done = write_document(env, raw, folder, stored=_files(store, message_id), **_verdicts(store, message_id))
    sent = store.folder(message_id) / "receipt.bin"  # the sealed 01 this org sent, when it did
    if sent.is_file():
        (folder / "receipt.bin").write_bytes(sent.read_bytes())
    if as_json:
        emit(
            {
                "message_id": message_id,
                "folder": folder,
                "files": done.files,
                "header": folder / "header.json",
            }
        )
        return
    out.print(f"{message_id}: header.json, envelope.bin and {len(done.files)} file(s) written to {folder}")
