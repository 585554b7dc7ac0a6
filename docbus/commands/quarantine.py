"""`docbus quarantine list | show | export | release`: what the bus refused, for the operator.

Every refused record sits on docbus.quarantine byte for byte with its reason, detail, source position
and whether the sender was told (header ``docbus_sender_told``). An item is named by its quarantine
offset or by its message id. ``release`` resubmits the kept bytes to docbus.ingress for a fresh
decision (after a trust fix: a late CRL, a directory update) and audits it as REPLAYED with a detail
saying it was released from the quarantine.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from consumers.audit.core.events import draft
from consumers.audit.kafka.kafka_io import produce_all
from consumers.bus.decide.quarantine import SENDER_TOLD_HEADER
from docbus.errors import CliError, ExitCode
from docbus.output import JSON, emit
from docbus.settings import ADMIN, PROCESSOR, Settings
from producers.reader import read_to_end
from schemas.audit import AuditEvent, SourcePosition
from schemas.codec import decode
from schemas.errors import ContractError
from schemas.quarantine import QuarantineRecord
from schemas.topics import INGRESS_TOPIC, QUARANTINE_TOPIC

__all__ = ["quarantine_app"]

quarantine_app = typer.Typer(no_args_is_help=True, help="What the bus refused (docbus.quarantine).")
out = Console()
err = Console(stderr=True)
RELEASE_HEADER = "docbus_released_from"


@dataclass(frozen=True)
class Item:
    offset: int
    sender: str  # as claimed (the record's key)
    record: QuarantineRecord
    told: bool | None  # None: the processor did not say (receipts, older records)

    def json(self, raw: bool = False) -> dict[str, Any]:
        r = self.record
        data: dict[str, Any] = {
            "offset": self.offset, "claimed_sender": self.sender, "message_id": r.message_id,
            "reason": r.reason.value, "detail": r.detail, "at": r.at.isoformat(),
            "source": {"topic": r.topic, "partition": r.partition, "offset": r.offset},
            "raw_size": len(r.raw), "raw_sha256": hashlib.sha256(r.raw).hexdigest(), "sender_told": self.told,
        }  # fmt: skip
        return data


def _items(settings: Settings) -> list[Item]:
    records = asyncio.run(read_to_end(settings.connection(ADMIN), QUARANTINE_TOPIC, timeout=30))
    items = []
    for rec in records:
        try:
            record = decode(rec.value or b"", QuarantineRecord)
        except ContractError:
            continue
        told = dict(rec.headers or ()).get(SENDER_TOLD_HEADER)
        sender = (rec.key or b"").decode("utf-8", "replace")
        items.append(Item(rec.offset, sender, record, None if told is None else told == b"1"))
    return items


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _one(settings: Settings, ident: str) -> Item:
    found = [i for i in _items(settings) if ident in (str(i.offset), i.record.message_id)]
    if not found:
        raise CliError(ExitCode.REFUSED, f"nothing in the quarantine is {ident} (docbus quarantine list)")
    return found[-1]


@quarantine_app.command("list")
def list_(
    reason: Annotated[str | None, typer.Option("--reason", help="a reason code, e.g. CERT_REVOKED")] = None,
    sender: Annotated[str | None, typer.Option("--sender", help="the claimed sender's code")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO 8601 (UTC if no zone)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO 8601 (UTC if no zone)")] = None,
    as_json: bool = JSON,
) -> None:
    """Quarantined items, filtered by reason, claimed sender and time."""
    start, end = _when(since), _when(until)
    items = [
        i for i in _items(Settings())
        if (reason is None or i.record.reason.value == reason.upper())
        and (sender is None or i.sender == sender)
        and (start is None or i.record.at >= start) and (end is None or i.record.at <= end)
    ]  # fmt: skip
    if as_json:
        emit({"items": [i.json() for i in items]})
        return
    table = Table("offset", "at", "reason", "claimed sender", "message id", "size", "told", "detail")
    for i in items:
        told = "?" if i.told is None else "yes" if i.told else "no"
        r = i.record
        table.add_row(str(i.offset), r.at.isoformat()[:19], r.reason.value, i.sender, r.message_id or "-",
                      str(len(r.raw)), told, r.detail[:60])  # fmt: skip
    out.print(table)
    out.print(f"{len(items)} item(s)")


@quarantine_app.command()
def show(
    ident: Annotated[str, typer.Argument(help="quarantine offset or message id")], as_json: bool = JSON
) -> None:
    """One item: reason, detail, source position, raw size and SHA-256, whether the sender was told."""
    item = _one(Settings(), ident)
    if as_json:
        emit(item.json())
        return
    for key, value in item.json().items():
        out.print(f"{key:15} {value}")


@quarantine_app.command()
def export(
    out_dir: Annotated[Path, typer.Option("--out", help="folder: <offset>.bin + <offset>.json per item")],
    ident: Annotated[str | None, typer.Argument(help="one item; all when omitted")] = None,
) -> None:
    """Write the kept bytes and the facts of each item."""
    import json

    settings = Settings()
    items = [_one(settings, ident)] if ident else _items(settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in track(items, description="exporting", console=err, transient=True):
        (out_dir / f"{item.offset}.bin").write_bytes(item.record.raw)
        (out_dir / f"{item.offset}.json").write_text(json.dumps(item.json(), ensure_ascii=False, indent=2))
    out.print(f"{len(items)} item(s) exported to {out_dir}")


@quarantine_app.command()
def release(
    ident: Annotated[str, typer.Argument(help="quarantine offset or message id")],
    note: Annotated[str, typer.Option("--note", help="why (the trust fix), kept in the audit")] = "",
    as_json: bool = JSON,
) -> None:
    """Resubmit a quarantined envelope to docbus.ingress for a fresh decision (audited)."""
    settings = Settings()
    item = _one(settings, ident)
    r = item.record
    if r.topic != INGRESS_TOPIC or r.message_id is None:
        raise CliError(
            ExitCode.REFUSED, f"item {item.offset} is not an envelope from ingress: not releasable"
        )
    now = datetime.now(UTC)
    where = f"{QUARANTINE_TOPIC}@{item.offset}"
    headers = [(RELEASE_HEADER, where.encode())]
    key, value = draft(
        AuditEvent.REPLAYED, message_id=r.message_id, sender=item.sender, at=now,
        stored_hash=hashlib.sha256(r.raw).digest(),
        source=SourcePosition(topic=QUARANTINE_TOPIC, partition=0, offset=item.offset),
        detail=f"released from {where} ({r.reason.value}) for a fresh decision{': ' + note if note else ''}",
    )  # fmt: skip

    async def go() -> None:
        await produce_all(settings.connection(ADMIN), [(INGRESS_TOPIC, item.sender.encode(), r.raw, headers)])
        await produce_all(settings.connection(PROCESSOR), [(settings.audit_events_topic, key, value, [])])

    asyncio.run(go())
    if as_json:
        emit({"released": r.message_id, "from": where, "reason": r.reason.value})
        return
    out.print(
        f"released {r.message_id} from {where} ({r.reason.value}) to {INGRESS_TOPIC}: the bus decides again"
    )
