"""`docbus directory ...`: the directory authority's commands (docs/OPERATIONS.md §11).

``add``, ``update`` and ``close`` stage new versions of entries in ``<home>/directory/staged.json``,
each checked against the published directory (docbus/directory_edit.py); ``publish`` shows what the
staged entries change and who they reach, seals them as the directory authority (key file or token),
creates the inboxes of new codes and publishes them. ``show`` reads the published directory,
``--history`` every version of a code still on the topic. ``load --sector`` publishes the built-in
synthetic sector.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from docbus.commands.common import identity, org_code
from docbus.commands.token import PinEnv, PinFile, TokenCert, TokenKey, TokenLabel, TokenModule, token_options
from docbus.directory_edit import Change, Edits, affected
from docbus.directory_load import ensure_topics, publish_entries, seal_entries
from docbus.errors import CliError, ExitCode
from docbus.output import JSON, emit
from docbus.pki_folder import TrustFiles, with_encryption_certificates
from docbus.sector import build_sector
from docbus.settings import ADMIN, DIRECTORY, Settings
from producers.reader import read_to_end
from schemas.blob_crypto import encryption_public_key
from schemas.codec import decode
from schemas.directory import (
    DirectoryEntry,
    OrgKind,
    check_entry_times,
    directory_entry_signing_input,
    entry_hash,
)  # fmt: skip
from schemas.directory_store import DirectorySnapshot
from schemas.errors import ContractError, TrustError
from schemas.fields import from_millis
from schemas.topics import DIRECTORY_TOPIC

__all__ = ["directory_app"]

directory_app = typer.Typer(no_args_is_help=True, help="The sector directory on docbus.directory.")
out = Console()
err = Console(stderr=True)

Code = Annotated[str, typer.Argument(callback=org_code, help="the org code (dotted form)")]
Groups = Annotated[list[str] | None, typer.Option("--group", help="a named list it belongs to (repeatable)")]


# --- reading the published directory -----------------------------------------------------------


def _versions(settings: Settings) -> tuple[list[DirectoryEntry], int]:
    """Every entry version on the topic whose authority seal verifies, and how many were refused."""
    policy = TrustFiles(settings.pki).policy
    records = asyncio.run(
        read_to_end(settings.connection(ADMIN), DIRECTORY_TOPIC, timeout=settings.directory_timeout)
    )
    now, found, refused = datetime.now(UTC), [], 0
    for record in records:
        try:
            entry = decode(record.value or b"", DirectoryEntry)
            check_entry_times(entry, from_millis(record.timestamp))
            policy.verify_seal(
                directory_entry_signing_input(entry), entry.signatures, settings.directory_org, now
            )
        except (ContractError, TrustError):
            refused += 1  # another exchange's entries, or garbage: never part of this directory
            continue
        found.append(entry)
    return found, refused


def _published(settings: Settings) -> DirectorySnapshot | None:
    entries, _ = _versions(settings)
    return DirectorySnapshot.build(entries) if entries else None


def _entry_json(entry: DirectoryEntry, snap: DirectorySnapshot | None = None) -> dict[str, Any]:
    data = entry.model_dump(mode="json", exclude={"signatures"})
    data["entry_hash"] = entry_hash(entry).hex()
    if snap is not None:
        data["resolves_to"] = snap.resolve(entry.code)
    return data


# --- staging -------------------------------------------------------------------------------------


def _staged_file(settings: Settings) -> Path:
    return settings.home / "directory" / "staged.json"


def _load_staged(settings: Settings) -> dict[str, DirectoryEntry]:
    path = _staged_file(settings)
    if not path.exists():
        return {}
    return {code: DirectoryEntry.model_validate(e) for code, e in json.loads(path.read_text()).items()}


def _save_staged(settings: Settings, staged: dict[str, DirectoryEntry]) -> None:
    path = _staged_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {code: e.model_dump(mode="json") for code, e in sorted(staged.items())}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2))


def _edit(action: str, **kw: Any) -> None:
    settings = Settings()
    edits = Edits(_published(settings), _load_staged(settings))
    entry = getattr(edits, action)(at=datetime.now(UTC), **kw)
    _save_staged(settings, edits.staged)
    what = f"closed into {entry.successor}" if entry.successor else {"add": "added"}.get(action, "updated")
    waiting = f"{len(edits.staged)} change(s) wait for: docbus directory publish"
    out.print(f"staged {entry.code} v{entry.version}: {what}; {waiting}")


EncryptionCert = Annotated[
    Path | None,
    typer.Option("--encryption-cert", help="the org's encryption certificate (PEM or DER): senders wrap "
                 "large payloads' keys to it (docs/ENVELOPE.md §7.4)"),
]  # fmt: skip


def _encryption_certificate(path: Path) -> bytes:
    """The DER of a P-256 keyAgreement certificate file; a usage error otherwise."""
    try:
        data = path.read_bytes()
        der = data if not data.lstrip().startswith(b"-----") else (
            x509.load_pem_x509_certificates(data)[0].public_bytes(serialization.Encoding.DER)
        )  # fmt: skip
        encryption_public_key(der)
    except (OSError, ValueError, ContractError) as exc:
        raise CliError(ExitCode.USAGE, f"--encryption-cert {path}: {exc}") from exc
    return der


@directory_app.command()
def add(
    code: Code,
    name: Annotated[str, typer.Option("--name", help="Vietnamese name as promulgated")],
    kind: Annotated[OrgKind, typer.Option("--kind")],
    parent: Annotated[
        str | None, typer.Option("--parent", callback=org_code, help="the org it belongs to")
    ] = None,
    name_en: Annotated[str | None, typer.Option("--name-en")] = None,
    group: Groups = None,
    encryption_cert: EncryptionCert = None,
) -> None:
    """Stage a new organisation (version 1). A code that exists or existed is refused."""
    cert = None if encryption_cert is None else _encryption_certificate(encryption_cert)
    _edit("add", code=code, name=name, kind=kind, parent=parent, name_en=name_en, groups=group or [],
          encryption_certificate=cert)  # fmt: skip


@directory_app.command()
def update(
    code: Code,
    name: Annotated[str | None, typer.Option("--name")] = None,
    name_en: Annotated[str | None, typer.Option("--name-en")] = None,
    kind: Annotated[OrgKind | None, typer.Option("--kind")] = None,
    parent: Annotated[str | None, typer.Option("--parent", callback=org_code, help="new parent")] = None,
    no_parent: Annotated[bool, typer.Option("--no-parent", help="belongs to no other org")] = False,
    group: Groups = None,
    no_groups: Annotated[bool, typer.Option("--no-groups", help="in no named list")] = False,
    encryption_cert: EncryptionCert = None,
) -> None:
    """Stage the next version of an active entry with the given fields changed."""
    fields: dict[str, Any] = {k: v for k, v in (("name", name), ("name_en", name_en), ("kind", kind)) if v}
    if encryption_cert is not None:
        fields["encryption_certificate"] = _encryption_certificate(encryption_cert)
    if parent is not None or no_parent:
        fields["parent"] = parent
    if group or no_groups:
        fields["groups"] = group or []
    if not fields:
        detail = "nothing to change: give --name, --kind, --parent, --group, --encryption-cert ..."
        raise CliError(ExitCode.USAGE, detail)
    _edit("update", code=code, **fields)


@directory_app.command()
def close(
    code: Code,
    successor: Annotated[
        str, typer.Option("--successor", callback=org_code, help="the active code taking over")
    ],
) -> None:
    """Stage closing a code (đóng mã): it stays in the directory for ever and names its successor;
    envelopes addressed to it go to the successor's inbox."""
    _edit("close", code=code, successor=successor)


@directory_app.command()
def staged(as_json: bool = JSON) -> None:
    """What publish would change, without publishing."""
    settings = Settings()
    edits = Edits(_published(settings), _load_staged(settings))
    after = edits.result()
    if as_json:
        emit(_plan_json(edits, after))
        return
    _print_plan(edits.changes(), affected(edits.published, after), after)


@directory_app.command()
def discard() -> None:
    """Drop every staged change."""
    _staged_file(Settings()).unlink(missing_ok=True)
    out.print("staged changes discarded")


def _plan_json(edits: Edits, after: DirectorySnapshot) -> dict[str, Any]:
    before = edits.published
    return {
        "snapshot_before": None if before is None else before.hash.hex(),
        "snapshot_after": after.hash.hex(),
        "changes": [{"code": c.code, "change": c.what, "version": c.after.version,
                     "fields": {k: {"before": b, "after": a} for k, (b, a) in c.fields().items()}}
                    for c in edits.changes()],
        "affected": affected(before, after),
    }  # fmt: skip


def _print_plan(changes: list[Change], reach: list[str], after: DirectorySnapshot) -> None:
    table = Table("code", "change", "version", "field", "before", "after", title="staged directory changes")
    for c in changes:
        for i, (name, (b, a)) in enumerate(c.fields().items()):
            head = (c.code, c.what, str(c.after.version)) if i == 0 else ("", "", "")
            table.add_row(*head, name, "" if b is None else str(b), "" if a is None else str(a))
    out.print(table)
    for line in reach:
        out.print(f"  affected: {line}")
    out.print(f"snapshot after publishing: {after.hash.hex()}")


@directory_app.command()
def publish(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="publish without asking")] = False,
    token: TokenLabel = None,
    token_module: TokenModule = "",
    token_key: TokenKey = "",
    pin_file: PinFile = None,
    pin_env: PinEnv = "DOCBUS_TOKEN_PIN",
    token_cert: TokenCert = None,
    as_json: bool = JSON,
) -> None:
    """Show the staged changes and who they reach, then seal them as the directory authority and
    publish them (inboxes of new codes created first). Exit 3 when nothing is staged."""
    settings = Settings()
    edits = Edits(_published(settings), _load_staged(settings))
    changes = edits.changes()
    if not changes:
        raise CliError(ExitCode.PENDING, "nothing staged: docbus directory add | update | close first")
    after = edits.result()  # an inconsistent directory is never published
    if not as_json:
        _print_plan(changes, affected(edits.published, after), after)
    if not yes and not typer.confirm(f"publish {len(changes)} change(s) as {settings.directory_org}?"):
        raise typer.Exit(1)
    spec = token_options(token, token_module, token_key, pin_file, pin_env, token_cert)
    authority = identity(settings, settings.directory_org, token=spec)
    entries = [c.after for c in changes]
    sealed = _seal(entries, authority.seal, quiet=as_json)

    async def go() -> None:
        await ensure_topics(settings.connection(ADMIN), sealed)
        await publish_entries(settings.connection(DIRECTORY), sealed)

    asyncio.run(go())
    _staged_file(settings).unlink(missing_ok=True)
    if as_json:
        emit({**_plan_json(edits, after), "published": len(sealed)})
        return
    out.print(f"{len(sealed)} entries published; snapshot {after.hash.hex()}")


def _seal(entries: list[DirectoryEntry], seal: Any, *, quiet: bool) -> list[DirectoryEntry]:
    columns = (TextColumn("sealing"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err, transient=True, disable=quiet) as progress:
        task = progress.add_task("seal", total=len(entries))
        sealed = []
        for entry in entries:
            sealed += seal_entries([entry], seal)
            progress.advance(task)
    return sealed


@directory_app.command()
def load(
    sector: bool = typer.Option(False, "--sector", help="the sector directory of docbus/sector.py"),
    departments: int = typer.Option(63, "--departments", min=1, max=63),
    universities: int = typer.Option(300, "--universities", min=0),
) -> None:
    """Seal the sector's entries as the directory authority, create every active org's inbox,
    publish the entries; prints the snapshot hash nodes put in their envelopes."""
    if not sector:
        raise CliError(ExitCode.USAGE, "say which directory: --sector")
    settings = Settings()
    authority = identity(settings, settings.directory_org)
    # each org's encryption certificate from the PKI folder, as the demo's ceremony lists it
    sector_entries = with_encryption_certificates(
        build_sector(departments, universities, with_bus=True), settings.pki
    )
    entries = _seal(sector_entries, authority.seal, quiet=False)
    snapshot = DirectorySnapshot.build(entries)  # an inconsistent directory is never published

    async def go() -> None:
        plan = await ensure_topics(settings.connection(ADMIN), entries)
        out.print(f"topics: {len(plan.create)} created, {len(plan.ok)} in place")
        await publish_entries(settings.connection(DIRECTORY), entries)

    asyncio.run(go())
    out.print(f"{len(entries)} entries published; snapshot {snapshot.hash.hex()}")


@directory_app.command()
def show(
    code: Annotated[
        str | None, typer.Argument(callback=org_code, help="one org code; all when omitted")
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="every version of CODE still on the topic")
    ] = False,
    as_json: bool = JSON,
) -> None:
    """Read docbus.directory (checking every seal) and show the current snapshot or one entry."""
    settings = Settings()
    versions, refused = _versions(settings)
    if not versions:
        raise CliError(ExitCode.PENDING, "the directory is empty: docbus directory load | publish")
    snap = DirectorySnapshot.build(versions)
    if history:
        if code is None:
            raise CliError(ExitCode.USAGE, "--history needs a CODE")
        _history(code, versions, snap, as_json)
        return
    entries = [e for e in snap.entries() if code is None or e.code == code]
    if code is not None and not entries:
        raise CliError(ExitCode.REFUSED, f"{code} is not in the directory (snapshot {snap.hash.hex()[:16]})")
    if as_json:
        emit({"snapshot": snap.hash.hex(), "codes": len(snap), "refused": refused,
              "entries": [_entry_json(e, snap) for e in entries]})  # fmt: skip
        return
    out.print(f"snapshot {snap.hash.hex()}  {len(snap)} codes  ({refused} entries refused)")
    table = Table("code", "kind", "status", "parent", "name", "version")
    for entry in entries:
        status = entry.status.value + (f" -> {entry.successor}" if entry.successor else "")
        table.add_row(
            entry.code, entry.kind.value, status, entry.parent or "", entry.name, str(entry.version)
        )
    out.print(table)


def _history(code: str, versions: list[DirectoryEntry], snap: DirectorySnapshot, as_json: bool) -> None:
    mine = {e.version: e for e in versions if e.code == code}  # one version re-sealed: shown once
    if not mine:
        raise CliError(ExitCode.REFUSED, f"{code} is not in the directory")
    ordered = [mine[v] for v in sorted(mine)]
    if as_json:
        emit({"code": code, "resolves_to": snap.resolve(code), "versions": [_entry_json(e) for e in ordered]})
        return
    table = Table(
        "version", "updated at", "status", "successor", "parent", "name", "groups", title=f"{code} history"
    )
    for e in ordered:
        table.add_row(str(e.version), e.updated_at.isoformat()[:19], e.status.value, e.successor or "",
                      e.parent or "", e.name, ", ".join(e.groups))  # fmt: skip
    out.print(table)
    out.print(f"{code} now answers as {snap.resolve(code)}")
