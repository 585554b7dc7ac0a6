"""`docbus inbox`, `docbus receipt` and `docbus status`: the recipient's and the clerk's commands.

Settings: the ``DOCBUS_*`` environment of consumers/bus/config.py. An org's store is
``<home>/nodes/<org>/inbox``; the node state (sent envelopes, for a recall) ``<home>/nodes/<org>/state``.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from consumers.bus.decide.routing import RoutingError, route
from consumers.inbox.client import InboxClient, InboxEvent
from consumers.inbox.host import run_inboxes
from consumers.inbox.status import StatusReport, StatusRow, seal_check, status_report
from consumers.inbox.store import InboxStore
from docbus.commands.common import ORG, identity, node_dir, org_code, require_pki
from docbus.commands.token import (
    EncryptionToken,
    EncryptionTokenKey,
    PinEnv,
    PinFile,
    TokenCert,
    TokenKey,
    TokenLabel,
    TokenModule,
    encryption_token_options,
    token_options,
)
from docbus.errors import CliError, ExitCode
from docbus.output import JSON, emit
from docbus.pki_folder import TrustFiles
from docbus.settings import ADMIN, Settings
from producers.directory_view import DirectoryView
from producers.identity import NodeIdentity
from producers.node_state import NodeState
from producers.publisher import Publisher
from producers.reader import ReadError, read_to_end
from producers.receipts import receipt_for
from producers.send import BUS_ORG
from schemas.codec import encode
from schemas.connection import KafkaConnection
from schemas.envelope import Envelope, parse_envelope
from schemas.lifecycle import Recall
from schemas.orgcode import canonical_org_code
from schemas.receipt import Receipt, StatusCode
from schemas.topics import STATUS_TOPIC, sender_status_topic

__all__ = ["inbox", "receipt", "status"]

S = StatusCode
CLERK_STATUSES = ("02", "03", "04", "05", "06", "13", "15", "16")
out = Console()
err = Console(stderr=True)
_COLOURS = {"document": "green", "duplicate": "dim", "rejected": "red", "receipt": "cyan", "notice": "blue"}


_node = node_dir
_identity = identity


def _print_event(event: InboxEvent, org: str | None = None) -> None:
    colour = _COLOURS.get(event.kind, "white")
    who = f" from {event.sender}" if event.sender else ""
    subject = f" — {event.subject}" if event.subject else ""
    to = f"{org} " if org else ""
    out.print(f"{to}[{colour}]{event.kind:9}[/] {event.message_id or '-'}{who}: {event.detail}{subject}")


ORGS = typer.Option("--org", envvar="DOCBUS_ORG", callback=lambda v: [org_code(c) for c in v or []],
                    help="this org's code (repeat it to serve several)")  # fmt: skip


def inbox(
    orgs: Annotated[list[str] | None, ORGS] = None,
    every: bool = typer.Option(False, "--every-org", help="every org code with a seal key in the PKI folder"),
    follow: bool = typer.Option(False, "--follow/--once", help="keep running, or stop when caught up"),
    show: bool = typer.Option(False, "--list", help="only list what the local store holds"),
    as_json: bool = JSON,
    token: TokenLabel = None,
    token_module: TokenModule = "",
    token_key: TokenKey = "",
    pin_file: PinFile = None,
    pin_env: PinEnv = "DOCBUS_TOKEN_PIN",
    token_cert: TokenCert = None,
    encryption_token: EncryptionToken = None,
    encryption_token_key: EncryptionTokenKey = "",
) -> None:
    """Receive this org's documents: verify, store, acknowledge (01) or refuse (02). One process
    serves several codes (--org repeated, or --every-org), each with its own seal and group.
    With --token the org's seal (on its receipts) is a key on a PKCS#11 token; with
    --encryption-token its encryption key (it opens large payloads' keys) is one."""
    settings = Settings()
    spec = token_options(token, token_module, token_key, pin_file, pin_env, token_cert)
    enc = encryption_token_options(encryption_token, token_module, encryption_token_key, pin_file, pin_env)
    codes = _served(settings, orgs or [], every, spec is not None or enc is not None)
    identities = [_identity(settings, code, token=spec, encryption_token=enc) for code in codes]
    stores = {i.org_code: InboxStore(_node(settings, i.org_code) / "inbox") for i in identities}
    events: dict[str, list[InboxEvent]] = {code: [] for code in stores}
    if not show:
        counts = _receive(settings, identities, follow, events if as_json else None, many=len(codes) > 1)
        if counts is None:
            return
        if not as_json:
            out.print(f"{sum(counts.values())} record(s) handled" + _per_org(counts))
    if as_json:
        shapes = [_json(code, store, events[code]) for code, store in stores.items()]
        emit(shapes[0] if len(shapes) == 1 else {"orgs": shapes})
        return
    for code, store in stores.items():
        if len(stores) > 1:
            out.print(f"[bold]{code}[/]")
        _list(store)


def _served(settings: Settings, orgs: list[str], every: bool, token: bool) -> list[str]:
    """The codes this process serves: those named, or every seal key in the PKI folder."""
    codes = list(dict.fromkeys(orgs))
    if every:
        issued = require_pki(settings) / "issued"
        codes += [p.parent.name for p in sorted(issued.glob("*/org.key.pem")) if p.parent.name not in codes]
    if not codes:
        raise CliError(ExitCode.USAGE, "which inbox? --org CODE (repeatable), DOCBUS_ORG or --every-org")
    if token and len(codes) > 1:
        raise CliError(ExitCode.USAGE, "a token key is one org's: serve the others in another process")
    return codes


def _per_org(counts: dict[str, int]) -> str:
    if len(counts) < 2:
        return ""
    return f" for {len(counts)} orgs (" + ", ".join(f"{c} {n}" for c, n in counts.items()) + ")"


def _receive(
    settings: Settings,
    identities: list[NodeIdentity],
    follow: bool,
    collected: dict[str, list[InboxEvent]] | None,
    *,
    many: bool,
) -> dict[str, int] | None:
    """Run the inbox clients in one event loop; None when interrupted."""
    trust = TrustFiles(settings.pki)
    first = settings.connection(identities[0].org_code)
    directory = DirectoryView(first, policy=trust.policy, authority=settings.directory_org)
    # one receipt producer per TLS login: the codes under one login share it and one consumer
    publishers: dict[str, Publisher] = {}

    def publisher(kafka: KafkaConnection) -> Publisher:
        key = kafka.model_dump_json()
        if key not in publishers:
            publishers[key] = Publisher(kafka, client_id="docbus-inbox", long_running=True)
        return publishers[key]

    clients = []
    for i in identities:
        kafka = settings.connection(i.org_code)
        store = _node(settings, i.org_code) / "inbox"
        clients.append(InboxClient(i, kafka, store, trust.policy, directory=directory,
                                   bus_org=settings.bus_org, blob_wait=settings.blob_wait,
                                   publisher=publisher(kafka)))  # fmt: skip

    def on_event(org: str, event: InboxEvent) -> None:
        if collected is not None:
            collected[org].append(event)
        else:
            _print_event(event, org if many else None)

    try:
        return asyncio.run(run_inboxes(clients, once=not follow, on_event=on_event, refresh=trust.refresh,
                                       directory=directory))  # fmt: skip
    except KeyboardInterrupt:
        return None


def _json(org: str, store: InboxStore, events: list[InboxEvent]) -> dict[str, object]:
    """The shape of `docbus inbox --json` (docs/OPERATIONS.md)."""
    docs = [{**m, "receipt_sent": store.receipt_sent(m["message_id"])} for m in store.documents()]
    handled = [{"kind": e.kind, "message_id": e.message_id, "sender": e.sender, "detail": e.detail,
                "subject": e.subject} for e in events]  # fmt: skip
    return {"org": org, "handled": handled, "documents": docs, "receipts": store.receipts(),
            "rejected": store.rejected()}  # fmt: skip


def _list(store: InboxStore) -> None:
    docs = Table("received at", "message id", "from", "document id", "subject", "01 sent", title="documents")
    for m in store.documents():
        sent = "yes" if store.receipt_sent(m["message_id"]) else "no"
        docs.add_row(m["received_at"][:19], m["message_id"], m["sender"]["code"], m["document_id"],
                     m["subject"], sent)  # fmt: skip
    out.print(docs)
    log = Table("at", "kind", "status", "from", "envelope", "reason", "seal", title="receipts and notices")
    for r in store.receipts():
        log.add_row(r["at"][:19], r["kind"], r["status"], r["from"], r["envelope_id"], r["reason"], r["seal"])
    out.print(log)
    refused = store.rejected()
    if refused:
        table = Table("at", "message id", "reason", "detail", title="rejected")
        for r in refused:
            table.add_row(r["at"][:19], r["message_id"] or "-", r["reason"], r["detail"])
        out.print(table)


def receipt(
    message_id: str = typer.Argument(..., help="the envelope's message id"),
    org: str = ORG,
    status: str = typer.Option(..., "--status", help="02 03 04 05 06 (recipient), 13 (sender), 15 16"),
    reason: str = typer.Option("", "--reason", help="needed for 02 and 16"),
    by: str = typer.Option("", "--by", help="the clerk's name"),
    position: str = typer.Option("", "--position", help="the clerk's position"),
    token: TokenLabel = None,
    token_module: TokenModule = "",
    token_key: TokenKey = "",
    pin_file: PinFile = None,
    pin_env: PinEnv = "DOCBUS_TOKEN_PIN",
    token_cert: TokenCert = None,
) -> None:
    """Send a sealed status receipt about a stored envelope (13: about one this org sent).
    With --token the org's seal is a key on a PKCS#11 token."""
    if status not in CLERK_STATUSES:
        err.print(f"[red]error:[/] --status must be one of {', '.join(CLERK_STATUSES)}")
        raise typer.Exit(2)
    settings = Settings()
    spec = token_options(token, token_module, token_key, pin_file, pin_env, token_cert)
    identity = _identity(settings, org, token=spec)
    code = StatusCode(status)
    node = _node(settings, identity.org_code)
    env = _envelope(node, identity.org_code, message_id, code)
    # a 13 goes from the sender to the recipients: the bus forwards it to every one of them
    to = (env.recipients or [env.sender.code])[0] if code is StatusCode.RECALL_REQUESTED else None
    made = receipt_for(identity, env, code, reason or None, by_name=by, by_position=position, to_org=to)
    asyncio.run(_publish(settings.connection(identity.org_code), made))
    out.print(f"receipt {made.message_id}: {code.value} for {message_id} sent to {made.to_org}")


def _envelope(node: Path, org: str, message_id: str, code: StatusCode) -> Envelope:
    if code is StatusCode.RECALL_REQUESTED:
        raw = NodeState(node / "state", org).sent_envelope(message_id)
        if raw is None:
            raise LookupError(f"{org} did not send {message_id} from this node (13 is the sender's)")
        return parse_envelope(raw)
    store = InboxStore(node / "inbox")
    if not store.has(message_id):
        raise LookupError(f"{message_id} is not in {org}'s inbox store (run `docbus inbox` first)")
    env = parse_envelope(store.envelope_bytes(message_id))
    if code in (StatusCode.RECALL_AGREED, StatusCode.RECALL_REFUSED) and not any(
        r["envelope_id"] == message_id and r["status"] == StatusCode.RECALL_REQUESTED.value
        and r["from"] == canonical_org_code(env.sender.code) and r["seal"] == "valid"
        for r in store.receipts()
    ):  # fmt: skip
        raise LookupError(f"no recall (13) of {message_id} from its sender has arrived: nothing to answer")
    return env


async def _publish(kafka: KafkaConnection, made: Receipt) -> None:
    async with Publisher(kafka) as pub:
        await pub.publish_receipt(made, encode(made))


def status(
    query: str = typer.Argument(..., help="a message id or a document id"),
    org: str = typer.Option(
        "", "--org", envvar="DOCBUS_ORG",
        help="the sender: read its own status topic as that org, and add whom it addressed",
    ),
    as_json: bool = JSON,
    topic: str = typer.Option("", "--topic", hidden=True),
) -> None:
    """Where every recipient of a document stands, who is outstanding, and what was ignored.

    With --org, as that org (its TLS login) from docbus.status.<org>, the status of its own
    documents and nothing else; without, as the operator from docbus.status (everyone's).
    Exit 0 when every recipient is settled (refused, done or recalled), 3 while anyone is
    outstanding, 1 when nothing is known of the document."""
    settings = Settings()
    verify = seal_check(TrustFiles(settings.pki).policy)
    try:
        # an org reads only its own status topic (ACL); docbus.status is the processors' and the operator's
        kafka = settings.connection(canonical_org_code(org)) if org else settings.connection(ADMIN)
        topic = topic or (sender_status_topic(org) if org else STATUS_TOPIC)
        records = asyncio.run(read_to_end(kafka, topic, timeout=settings.directory_timeout))
        addressed = asyncio.run(_addressed(settings, kafka, org, query)) if org else {}
    except ReadError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None

    report = status_report(((r.key, r.value) for r in records), query, addressed, verify, BUS_ORG)
    if not report.rows:
        if as_json:
            emit({"query": query, "recipients": [], "ignored": _ignored(report), "outstanding": []})
        err.print(f"no status for {query}")
        raise typer.Exit(1)
    if as_json:
        emit(_status_document(query, report))
    else:
        _print_status(report)
    if report.outstanding:
        raise typer.Exit(3)


_COLUMNS = (("01", S.ARRIVED), ("03", S.ACCEPTED), ("02", S.REJECTED), ("04", S.ASSIGNED),
            ("05", S.PROCESSING), ("06", S.DONE))  # fmt: skip


def _when(row: StatusRow, code: StatusCode) -> str:
    at = row.times.get(code)
    return at.isoformat()[:19] if at is not None else ""


def _print_status(report: StatusReport) -> None:
    rows = report.rows
    table = Table("message id", "recipient", "stage", "delivered", *(c for c, _ in _COLUMNS), "recall",
                  "by", "reason", title=rows[0].document_id)  # fmt: skip
    for row in rows:
        stage = row.stage if not row.outstanding else f"[yellow]{row.stage}[/]"
        delivered = row.routed_at.isoformat()[:19] if row.routed_at else ""
        recall = "" if row.state.recall is Recall.NONE else row.state.recall.value
        table.add_row(row.message_id, row.recipient, stage, delivered, *(_when(row, c) for _, c in _COLUMNS),
                      recall, row.by, row.reason)  # fmt: skip
    out.print(table)
    for row in rows:
        for problem in row.out_of_order:
            err.print(f"[yellow]{row.recipient}: out of order, not counted:[/] {problem}")
    out.print(_summary(report))
    for item in report.ignored:
        err.print(f"[dim]ignored {item.key}: {item.why}[/]")


def _counts(report: StatusReport) -> dict[str, int]:
    rows = report.rows
    return {
        "recipients": len(rows),
        "delivered": sum(r.routed_at is not None for r in rows),
        "arrived": sum(S.ARRIVED in r.times for r in rows),
        "accepted": sum(S.ACCEPTED in r.times for r in rows),
        "refused": sum(r.state.progress is S.REJECTED for r in rows),
        "processing": sum(r.stage == "processing" for r in rows),
        "done": sum(r.stage == "done" for r in rows),
        "recalled": sum(r.state.recall is Recall.AGREED for r in rows),
        "outstanding": len(report.outstanding),
        "ignored": len(report.ignored),
    }


def _summary(report: StatusReport) -> str:
    c = _counts(report)
    line = (f"{c['recipients']} recipients: delivered {c['delivered']}, arrived {c['arrived']}, "
            f"accepted {c['accepted']}, refused {c['refused']}, processing {c['processing']}, "
            f"done {c['done']}, recalled {c['recalled']}")  # fmt: skip
    waiting = [r.recipient for r in report.outstanding]
    line += f"; outstanding {len(waiting)}" + (f": {', '.join(waiting)}" if waiting else "")
    return line + (f"; ignored {c['ignored']}" if c["ignored"] else "")


def _ignored(report: StatusReport) -> list[dict[str, str]]:
    return [{"key": i.key, "why": i.why} for i in report.ignored]


def _status_document(query: str, report: StatusReport) -> dict[str, Any]:
    return {
        "query": query,
        "document_id": report.rows[0].document_id,
        "counts": _counts(report),
        "outstanding": [r.recipient for r in report.outstanding],
        "recipients": [
            {
                "message_id": r.message_id, "recipient": r.recipient, "stage": r.stage,
                "outstanding": r.outstanding, "delivered_at": r.routed_at,
                "receipts": {code.value: at for code, at in sorted(r.times.items())},
                "progress": r.state.progress, "recall": r.state.recall, "latest": r.status, "at": r.at,
                "by": r.by, "reason": r.reason, "out_of_order": list(r.out_of_order),
            }
            for r in report.rows
        ],
        "ignored": _ignored(report),
    }


async def _addressed(
    settings: Settings, kafka: KafkaConnection, org: str, query: str
) -> dict[str, tuple[str, list[str]]]:
    """The sender's own sent envelopes matching ``query``, with the recipients they resolve to
    (against the snapshot they name; their explicit recipients if it is not known)."""
    sent = NodeState(_node(settings, canonical_org_code(org)) / "state", org).sent_dir
    envelopes = [parse_envelope(p.read_bytes()) for p in sorted(sent.glob("*.bin"))] if sent.is_dir() else []
    matching = [e for e in envelopes if query in (e.message_id, e.document.document_id)]
    if not matching:
        return {}
    view = DirectoryView(kafka, policy=TrustFiles(settings.pki).policy,
                         authority=settings.directory_org)  # fmt: skip
    out_: dict[str, tuple[str, list[str]]] = {}
    for env in matching:
        snapshot = await view.snapshot(env.directory_snapshot, timeout=settings.directory_timeout)
        codes = [canonical_org_code(c) for c in env.recipients]
        if snapshot is not None:
            with contextlib.suppress(RoutingError):  # the bus refused it then: its explicit names
                codes = list(route(snapshot, env.sender.code, env.recipients, env.groups).recipients)
        out_[env.message_id] = (env.document.document_id, codes)
    return out_
