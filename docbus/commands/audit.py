"""`docbus audit ...` and `docbus evidence ...`: run the writer, verify, trace, replay, export.

Settings come from DOCBUS_* (consumers/audit/config.py). Exit codes: 0 ok, 1 the log or the
bundle does not verify (or nothing was found), 2 the tool could not run (broker, files); a record the
writer did not write is a FOREIGN_RECORD fault of verify (exit 1, docs/OPERATIONS.md says what to do).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    track,
)
from rich.table import Table
from typer.core import TyperGroup

from consumers.audit.core.archive import ArchiveReader, export_archive
from consumers.audit.core.errors import AuditError
from consumers.audit.core.events import CHECKPOINT_REQUEST, CONTROL_HEADER
from consumers.audit.core.report import Fault, FaultKind, VerifyReport
from consumers.audit.core.trusted import verify_trusted
from consumers.audit.kafka.bundle import build_bundle, pki_anchors, pki_crls, verify_bundle
from consumers.audit.kafka.kafka_io import produce_all, read_values
from consumers.audit.kafka.logview import LogView, audit_certificate, load_log, read_log
from consumers.audit.kafka.replay import ReplayResult
from consumers.audit.kafka.replay import replay as run_replay
from consumers.audit.kafka.service import AuditWriterService
from consumers.trust import TrustError
from docbus.document_view import write_document
from docbus.output import JSON, emit
from docbus.pki_folder import trust_policy_from_pki
from docbus.settings import ADMIN, AUDIT_WRITER, Settings
from producers.keys import SigningError
from schemas.audit import AuditEvent, AuditRecord, Checkpoint, Evidence
from schemas.codec import decode
from schemas.envelope import parse_envelope
from schemas.errors import ContractError

__all__ = ["audit_app", "evidence_app"]

logger = logging.getLogger(__name__)
console = Console()
_progress_console = Console(stderr=True)  # bars on stderr: stdout stays the report (or the JSON)

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail (docs/AUDIT.md).")


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]{message}[/red]")
    return typer.Exit(code)


def _when(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except TimeoutError:  # an OSError too, but the caller says what was awaited
        raise
    except (LookupError, OSError) as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:  # aiokafka errors: the broker is not reachable
        if type(exc).__module__.startswith("aiokafka"):
            raise _fail(f"Kafka: {exc!r}") from None
        raise


@audit_app.command("writer")
def writer() -> None:
    """Run the single audit writer (events -> chained log + checkpoints) until stopped."""
    settings = Settings()
    settings.warn_if_insecure()
    try:
        service = AuditWriterService.from_settings(settings, settings.connection(AUDIT_WRITER))
    except SigningError as exc:
        raise _fail(f"audit key: {exc} (issue one with `docbus pki issue-audit`)") from None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.run(stop)

    try:
        _run(main())
    except AuditError as exc:  # the stored log does not chain: never extend it
        raise _fail(f"the audit log cannot be extended: {exc}; run `docbus audit verify`") from None


@audit_app.command("checkpoint")
def checkpoint(
    timeout: Annotated[float, typer.Option(help="seconds to wait for the writer")] = 30.0,
) -> None:
    """Ask the running writer to sign a checkpoint now, and wait for it."""
    s = Settings()
    kafka = s.connection(ADMIN)

    async def main() -> Checkpoint:
        before = len(await read_values(kafka, s.checkpoint_topic))
        request = [(s.audit_events_topic, b"checkpoint", b"", [(CONTROL_HEADER, CHECKPOINT_REQUEST)])]
        await produce_all(kafka, request)
        async with asyncio.timeout(timeout):
            while True:
                values = await read_values(kafka, s.checkpoint_topic)
                if len(values) > before:
                    return decode(values[-1], Checkpoint)
                await asyncio.sleep(0.2)

    try:
        cp = _run(main())
    except TimeoutError:
        raise _fail(f"no checkpoint within {timeout:.0f} s: is the audit writer running?") from None
    console.print(
        f"checkpoint: tree size {cp.tree_size}, root {cp.root_hash.hex()}, {cp.issued_at:%Y-%m-%d %H:%M:%S}Z"
    )


@audit_app.command("verify")
def verify(
    archive: Annotated[
        Path | None, typer.Option("--archive", help="an exported archive instead of the topic")
    ] = None,
    decode_records: Annotated[
        bool, typer.Option("--decode/--no-decode", help="also decode every record body")
    ] = True,
    as_json: bool = JSON,
) -> None:
    """Walk the whole log: chain, checkpoint signatures (audit certificate checked against the PKI's
    anchors) and their consistency. Names the first bad position; exit code 1 on a fault."""
    s = Settings()
    try:
        policy = trust_policy_from_pki(s.pki)
    except TrustError as exc:
        raise _fail(str(exc)) from None
    now = datetime.now(UTC)
    certificates = audit_certificate(s)
    with _progress() as (progress, task):
        if archive is None:
            topic, checkpoints = _run(read_log(s, s.connection(ADMIN)))
            progress.update(task, total=len(topic))
            report = verify_trusted(
                topic, checkpoints, policy, org=s.audit_org, now=now, certificates=certificates,
                decode_records=decode_records, progress=lambda n: progress.update(task, completed=n),
            )  # fmt: skip
        else:
            report, checkpoints = _verify_archive(
                archive, policy, s.audit_org, now, certificates, decode_records, progress, task
            )
    signed = _signed_size(checkpoints) if report.ok else 0
    if as_json:
        emit(_report_json(report, signed))
    else:
        _print_report(report, signed)
    if not report.ok:
        raise typer.Exit(1)


def _report_json(report: VerifyReport, signed: int) -> dict[str, object]:
    f = report.fault
    fault = None if f is None else {"kind": f.kind.value, "position": f.position,
                                    "checkpoint": f.checkpoint, "message": f.message}  # fmt: skip
    return {"ok": report.ok, "records": report.records, "checkpoints": report.checkpoints,
            "signed_records": signed, "unsigned_tail": max(report.records - signed, 0) if report.ok else None,
            "fault": fault, "foreign": [{"position": x.position, "index": x.index, "why": x.why}
                                        for x in report.foreign]}  # fmt: skip


def _verify_archive(
    path: Path,
    policy: Any,
    org: str,
    now: datetime,
    certificates: list[list[bytes]],
    decode_records: bool,
    progress: Progress,
    task: Any,
) -> tuple[VerifyReport, list[bytes]]:
    try:
        src = path.open("rb")
    except OSError as exc:
        raise _fail(str(exc)) from None
    with src:
        try:
            reader = ArchiveReader(src)
        except AuditError as exc:
            return VerifyReport(False, 0, 0, b"\0" * 32, Fault(FaultKind.DECODE, None, exc.detail)), []
        try:
            report = verify_trusted(
                reader.sealed(), reader.checkpoints, policy, org=org, now=now, certificates=certificates,
                decode_records=decode_records, progress=lambda n: progress.update(task, completed=n),
            )  # fmt: skip
        except AuditError as exc:  # the container broke mid-stream
            fault = Fault(FaultKind.DECODE, reader.read, exc.detail)
            report = VerifyReport(False, reader.read, 0, b"\0" * 32, fault)
        return report, reader.checkpoints


class _progress:
    def __enter__(self) -> tuple[Progress, Any]:
        self.p = Progress(
            TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=_progress_console, transient=True,
        )  # fmt: skip
        self.p.__enter__()
        return self.p, self.p.add_task("verify", total=None)

    def __exit__(self, *exc: object) -> None:
        self.p.__exit__(None, None, None)


def _signed_size(checkpoints: list[bytes]) -> int:
    # only called on a verified log: every checkpoint decoded there
    return max((decode(c, Checkpoint).tree_size for c in checkpoints), default=0)


def _print_report(report: VerifyReport, signed: int) -> None:
    if report.ok:
        console.print(
            f"[green]OK[/green]: {report.records} records, {report.checkpoints} checkpoints verified"
        )
        if report.records > signed:  # nobody can detect a change there yet (docs/AUDIT.md §5)
            tail = report.records - signed
            console.print(f"[yellow]{tail} record(s) after the newest checkpoint are not signed yet[/yellow]")
        return
    f = report.fault
    assert f is not None
    where = "a checkpoint" if f.position is None else f"position {f.position}"
    if f.kind is FaultKind.FOREIGN_RECORD:
        where = f"topic position {f.position}"
    cp = "" if f.checkpoint is None else f" (checkpoint {f.checkpoint})"
    console.print(f"[red]FAULT {f.kind.value}[/red] at {where}{cp}: {f.message}")
    if f.kind is FaultKind.FOREIGN_RECORD:
        console.print(
            f"the writer's chain verifies: {report.records} records, {report.checkpoints} checkpoints"
        )
    else:
        console.print(f"records verified before it: {report.records}")
    for x in report.foreign:
        claims = "" if x.index is None else f", claims index {x.index}"
        console.print(f"  foreign record at topic position {x.position}{claims}: {x.why}")


@audit_app.command("timeline")
def timeline(
    ident: Annotated[str, typer.Argument(help="a message id or a document id")], as_json: bool = JSON
) -> None:
    """The life of a document: submitted, decided, routed, delivered, receipts, replays. Records
    no signed checkpoint covers yet are marked unverified; records the writer did not write, foreign."""
    s = Settings()
    view: LogView = _run(load_log(s, s.connection(ADMIN), _policy(s), now=datetime.now(UTC)))
    rows = [(str(r.index), r, "" if r.index < view.signed else "unverified") for _, r in view.about(ident)]
    for f in view.foreign:
        rec = _decoded(view.topic[f.position].data)
        if rec is not None and ident in (rec.message_id, rec.document_id):
            rows.append((f"@{f.position}", rec, "FOREIGN: not written by the audit writer"))
    if not rows:
        raise _fail(f"no audit record about {ident}", 1)
    if as_json:
        emit({"query": ident, "records": [{**_record_json(r), "position": w, "verified": m or "signed"}
                                          for w, r, m in rows]})  # fmt: skip
        return
    table = Table(title=f"audit timeline of {ident}")
    for col in ("#", "time (UTC)", "event", "from", "to", "code", "verified", "detail"):
        table.add_column(col)
    for where, r, mark in rows:
        code = r.status or r.reason or ""
        table.add_row(
            where, r.at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], r.event.value, r.sender,
            r.recipient or "", code, mark or "signed", r.detail[:80],
        )  # fmt: skip
    console.print(table)
    unverified = sum(1 for _, _, m in rows if m == "unverified")
    if unverified:
        console.print(f"[yellow]{unverified} record(s) not covered by a signed checkpoint[/yellow]")


def _policy(s: Settings) -> Any:
    try:
        return trust_policy_from_pki(s.pki)
    except TrustError as exc:
        raise _fail(str(exc)) from None


def _decoded(data: bytes) -> AuditRecord | None:
    try:
        return decode(data, AuditRecord)
    except ContractError:
        return None


@audit_app.command("replay")
def replay(
    org: Annotated[str, typer.Option("--org", help="the recipient whose envelopes to re-deliver")],
    since: Annotated[str, typer.Option("--since", help="ISO 8601 time (UTC if no zone)")],
    until: Annotated[str, typer.Option("--until", help="ISO 8601 time (UTC if no zone)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would be sent, send nothing")] = False,
) -> None:
    """Re-deliver what the log shows was routed to ORG in the window and its inbox lacks."""
    start, end = _when(since), _when(until)
    s = Settings()
    now = datetime.now(UTC)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=_progress_console, transient=True) as progress:
        progress.add_task(f"replay to {org}: reading the audit log, the inbox and the retained records")
        result = _run(
            run_replay(s, s.connection(ADMIN), org, start, end, now=now, dry_run=dry_run, policy=_policy(s))
        )
    table = Table(title=f"replay to {result.inbox}" + (" (dry run)" if dry_run else ""))
    for col in ("message id", "document", "from", "routed at", "action"):
        table.add_column(col)
    for item in result.items:
        if item.held:
            action = "in inbox: skip"
        elif dry_run:
            action = "would send"
        else:
            action = "sent" if item.message_id in result.sent else "[red]missing[/red]"
            if item.message_id in result.expired:
                action = "[red]chunks expired[/red]"
        table.add_row(
            item.message_id, item.document_id or "", item.sender, item.routed_at.isoformat(), action
        )
    console.print(table)
    if result.receipts:
        _print_receipts(result, dry_run)
    console.print(f"{len(result.sent)} sent, {sum(i.held for i in result.items)} already held")
    if result.receipts:
        console.print(f"receipts: {len(result.receipts_sent)} sent, {result.receipts_held} already held")
    if result.missing:
        raise _fail(f"{len(result.missing)} envelope(s) could not be fetched as recorded", 1)
    if result.expired:
        detail = "chunks deleted by docbus.blobs retention: the sender must send them again"
        raise _fail(f"{len(result.expired)} envelope(s) not re-delivered, {detail}", 1)


def _print_receipts(result: ReplayResult, dry_run: bool) -> None:
    table = Table(title=f"receipts and recalls forwarded to {result.org}")
    for col in ("about message", "status", "from", "at", "action"):
        table.add_column(col)
    sent = {id(r) for r in result.receipts_sent}
    for r in result.receipts:
        action = "would send unless held" if dry_run else "sent" if id(r) in sent else "in inbox: skip"
        if f"{r.status}:{r.message_id}" in result.missing:
            action = "[red]missing[/red]"
        table.add_row(r.message_id, r.status, r.from_org, r.at.isoformat(), action)
    console.print(table)


@audit_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="the Avro archive to write")],
    codec: Annotated[str, typer.Option(help="null (damage located per record) or deflate")] = "null",
) -> None:
    """Write the log and its checkpoints as an Avro object-container archive (verify --archive)."""
    s = Settings()
    topic, checkpoints = _run(read_log(s, s.connection(ADMIN)))
    with out.open("wb") as f:
        # the checkpoints were read before the log, so each covers records the log holds; the
        # topic goes out as it is, seals and foreign records included, so verify says the same
        records = track(topic, description="exporting", total=len(topic), console=_progress_console,
                        transient=True)  # fmt: skip
        count = export_archive(f, records, checkpoints, codec=codec)
    console.print(f"exported {count} records and {len(checkpoints)} checkpoints to {out}")


def _record_json(r: AuditRecord) -> dict[str, object]:
    return {"index": r.index, "at": r.at, "event": r.event.value, "message_id": r.message_id,
            "document_id": r.document_id, "sender": r.sender, "recipient": r.recipient, "status": r.status,
            "reason": r.reason, "detail": r.detail, "stored_hash": r.stored_hash,
            "source": None if r.source is None else r.source.model_dump()}  # fmt: skip


# --- docbus evidence ---------------------------------------------------------------------------


class _EvidenceGroup(TyperGroup):
    """`docbus evidence <message id> --out F` builds; `docbus evidence verify F` checks."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # click.Context (vendored)
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["build", *args]
        return super().parse_args(ctx, args)


evidence_app = typer.Typer(
    cls=_EvidenceGroup, no_args_is_help=True, help="One document's evidence bundle: build and check."
)


@evidence_app.command("build")
def evidence_build(
    message_id: Annotated[str, typer.Argument(help="the envelope's message id")],
    out: Annotated[Path, typer.Option("--out", help="the bundle file to write")],
) -> None:
    """Envelope, chains, CRLs, its audit records with inclusion proofs, a checkpoint, receipts."""
    try:
        s = Settings()
        bundle = _run(
            build_bundle(s, s.connection(ADMIN), message_id, now=datetime.now(UTC), policy=_policy(s))
        )
    except AuditError as exc:
        raise _fail(str(exc), 1) from None
    out.write_bytes(bundle)
    console.print(f"evidence for {message_id}: {len(bundle)} bytes written to {out}")


@evidence_app.command("verify")
def evidence_verify(
    bundle: Annotated[Path, typer.Argument(help="a bundle written by `docbus evidence`")],
    anchors: Annotated[Path | None, typer.Option("--anchors", help="PEM anchors or a PKI folder")] = None,
    extract: Annotated[
        Path | None, typer.Option("--extract", help="once verified, write header.json and files/ here")
    ] = None,
    as_json: bool = JSON,
) -> None:
    """Check a bundle with no broker and no network, against the anchors of the PKI folder; with
    --extract, yield the verified envelope's header and document back."""
    s = Settings()
    source = anchors if anchors is not None else s.pki
    try:
        roots = pki_anchors(source)
        crls = pki_crls(s.pki) if anchors is None else []
        report = verify_bundle(bundle.read_bytes(), roots, audit_org=s.audit_org, crls=crls)
    except OSError as exc:
        raise _fail(str(exc)) from None
    except (AuditError, TrustError, ContractError) as exc:
        if as_json:
            emit({"ok": False, "error": str(exc)})
            raise typer.Exit(1) from None
        raise _fail(f"evidence does NOT verify: {exc}", 1) from None
    extracted = _extract(bundle.read_bytes(), extract) if extract is not None else None
    if as_json:
        cp = report.checkpoint
        emit({"ok": True, "message_id": report.message_id, "stored_hash": report.stored_hash,
              "accepted": any(r.event is AuditEvent.ACCEPTED for r in report.records),
              "records": [_record_json(r) for r in report.records],
              "checkpoint": {"tree_size": cp.tree_size, "issued_at": cp.issued_at},
              "extracted": extracted})  # fmt: skip
        return
    console.print(f"[green]OK[/green]: message {report.message_id}, envelope {report.stored_hash.hex()}")
    for r in report.records:
        console.print(
            f"  #{r.index} {r.at:%Y-%m-%d %H:%M:%S} {r.event.value} {r.recipient or ''} {r.status or ''}"
        )
    cp = report.checkpoint
    console.print(
        f"proven against checkpoint of size {cp.tree_size} signed {cp.issued_at:%Y-%m-%d %H:%M:%S}Z"
    )
    if not any(r.event is AuditEvent.ACCEPTED for r in report.records):
        console.print("[yellow]not accepted by the bus: the envelope's signatures were not checked[/yellow]")
    if extracted is not None:
        files = ", ".join(str(f) for f in extracted["files"]) or "no file"
        console.print(f"header and document written to {extracted['folder']}: {files}")
        if extracted["missing"]:
            console.print(f"[yellow]chunked, not in the bundle: {', '.join(extracted['missing'])}[/yellow]")


def _extract(bundle: bytes, folder: Path) -> dict[str, Any]:
    """The bundle's envelope written out (header.json, envelope.bin, files/); a chunked file's
    content is on docbus.blobs, not in the bundle: it is named as missing."""
    raw = decode(bundle, Evidence).envelope
    done = write_document(parse_envelope(raw), raw, folder)
    return {"folder": done.folder, "header": done.folder / "header.json", "files": done.files,
            "missing": done.missing}  # fmt: skip
