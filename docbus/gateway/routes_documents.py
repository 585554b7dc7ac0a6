"""Submitting documents (files + header, an edXML package, a pre-signed envelope) and reading back
their outcome: the bus's notice and every recipient's status."""

from __future__ import annotations

import contextlib
import tempfile
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from consumers.bus.decide.routing import RoutingError, route
from consumers.inbox.status import seal_check, status_rows
from docbus.gateway.deps import MESSAGE_ID, Caller, GatewayDep, Node
from docbus.gateway.models import (
    DocumentStatus,
    NextPosition,
    ReceiptLogEntry,
    RecipientStatus,
    SubmitMetadata,
)
from docbus.gateway.node import OrgNode
from docbus.gateway.problems import GatewayError, GatewayReason
from docbus.gateway.schema import ACCEPTED, PROBLEMS, binary_body, multipart_body
from docbus.gateway.submit import idempotent, notice_out, recover
from producers.builder import DocumentDraft
from producers.edxml import SignatureVerdict, parse_package
from producers.keys import make_signature
from producers.notices import may_be_uncounted
from producers.reader import ReadError, read_to_end
from producers.send import Outcome as Notice
from schemas.canonical import envelope_signing_input, signing_hash
from schemas.codec import encode
from schemas.document import Priority
from schemas.envelope import Envelope, check_envelope, parse_envelope
from schemas.limits import check_message_size
from schemas.orgcode import canonical_org_code
from schemas.payload import Payload
from schemas.reasons import Reason
from schemas.receipt import StatusCode
from schemas.signature import SignerRole
from schemas.topics import sender_status_topic

__all__ = ["router"]

router = APIRouter(tags=["documents"], responses=PROBLEMS)

Wait = Annotated[
    float, Query(ge=0, le=60, description="seconds to wait for the bus's notice (0: do not wait)")
]
XML_TYPES = ("application/xml", "text/xml", "application/edxml+xml")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_media_type(request: Request, *types: str) -> None:
    if _media_type(request) not in types:
        raise GatewayError(415, GatewayReason.UNSUPPORTED_MEDIA_TYPE, f"send {' or '.join(types)}")


async def _payload(node: OrgNode, folder: FilePath, part: Any, what: str) -> Payload:
    """The part as a payload: inline up to the inline limit, else uploaded to docbus.blobs as chunks
    (the node's ``Sender.attach``, as ``docbus send`` does)."""
    if not isinstance(part, UploadFile) or not part.filename:
        raise GatewayError(422, Reason.FIELD_MISSING, f"{what}: a file part with a file name", what)
    name = part.filename.replace("\\", "/").rsplit("/", 1)[-1]
    if name in ("", ".", ".."):
        raise GatewayError(422, Reason.INVALID_FIELD, f"{what}: file name {part.filename!r}", what)
    ctype = (part.content_type or "application/octet-stream").split(";")[0].strip().lower()
    path = folder / str(len(list(folder.iterdir()))) / name
    path.parent.mkdir(parents=True)
    with path.open("wb") as f:
        while chunk := await part.read(1024 * 1024):
            f.write(chunk)
    try:
        return await node.sender.attach(path, ctype)
    except ValidationError as exc:
        raise GatewayError(422, Reason.INVALID_FIELD, f"{what}: {exc.errors()[0]['msg']}", what) from None


def _canonical(meta: SubmitMetadata, files: list[Payload]) -> bytes:
    """What a retry must repeat (the multipart boundary may change between tries)."""
    parts = [meta.model_dump_json().encode(), *(f"{p.file_name}|{p.content_type}|{p.sha256.hex()}".encode()
                                                for p in files)]  # fmt: skip
    return b"\x00".join(parts)


def _draft(meta: SubmitMetadata, payload: Payload, attachments: list[Payload]) -> DocumentDraft:
    return DocumentDraft(
        document_type=meta.type, code_number=meta.number, code_notation=meta.notation, subject=meta.subject,
        payload=payload, recipients=meta.to, groups=meta.groups, attachments=attachments,
        promulgation_place=meta.place, promulgation_date=meta.date, competence=meta.competence,
        priority=Priority(meta.priority), due_date=meta.due_date, places=meta.places,
        steering_type=meta.steering_type, response_for=meta.response_for, business_type=meta.business,
        contact={k: v for k, v in meta.contact.model_dump().items() if v},
    )  # fmt: skip


def _wait(gw: GatewayDep, wait: float) -> float | None:
    return min(wait, gw.settings.gateway_max_wait) if wait > 0 else None


@router.post(
    "/v1/orgs/{org}/documents", status_code=202, summary="Submit a document as files + header",
    response_model=None, openapi_extra=multipart_body(), responses=ACCEPTED,
)  # fmt: skip
async def submit_files(
    request: Request, gw: GatewayDep, caller: Caller, node: Node, wait: Wait = 0
) -> JSONResponse:
    require_media_type(request, "multipart/form-data")
    try:
        form = await request.form(max_files=21, max_fields=1)
    except MultiPartException as exc:
        raise GatewayError(400, Reason.MALFORMED, f"multipart body: {exc.message}") from None
    raw_meta = form.get("metadata")
    if not isinstance(raw_meta, str):
        raise GatewayError(422, Reason.FIELD_MISSING, "metadata: a JSON text part", "metadata")
    try:
        meta = SubmitMetadata.model_validate_json(raw_meta)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise GatewayError(
            422, Reason.INVALID_FIELD, f"metadata.{where}: {err['msg']}", f"metadata.{where}"
        ) from None
    node.uploads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=node.uploads) as tmp:
        folder = FilePath(tmp)
        payload = await _payload(node, folder, form.get("file"), "file")
        attachments = [await _payload(node, folder, p, "attachments") for p in form.getlist("attachments")]
    draft = _draft(meta, payload, attachments)
    return await idempotent(
        request, gw, caller, node, _canonical(meta, [payload, *attachments]),
        lambda mid: node.sender.send(draft, wait=_wait(gw, wait), message_id=mid),
    )  # fmt: skip


@router.post(
    "/v1/orgs/{org}/edxml", status_code=202, summary="Submit a whole edXML (QCVN 102:2016) package",
    openapi_extra=binary_body(XML_TYPES, "an edXML package (UTF-8 XML)"), response_model=None,
    responses=ACCEPTED,
)  # fmt: skip
async def submit_edxml(
    request: Request, gw: GatewayDep, caller: Caller, node: Node, wait: Wait = 0,
    require_signature: Annotated[bool, Query(description="refuse a package without XMLDSig")] = False,
) -> JSONResponse:  # fmt: skip
    require_media_type(request, *XML_TYPES)
    body = await request.body()
    pkg = parse_package(body)  # EdxmlError: 400 / 413 / 422 with its reason
    sig = pkg.signature
    if sig.verdict is SignatureVerdict.INVALID:
        raise GatewayError(422, Reason.SIGNATURE_INVALID, f"the package's XMLDSig: {sig.detail}", "Signature")
    if require_signature and sig.verdict is SignatureVerdict.ABSENT:
        raise GatewayError(422, Reason.SIGNATURE_MISSING, "the package is not signed", "Signature")
    sender = canonical_org_code(pkg.content.sender.code)
    if not caller.may_act_for(sender):
        detail = f"From/OrganId {pkg.content.sender.code}: client {caller.client_id} may not act for {sender}"
        raise GatewayError(403, GatewayReason.ORG_NOT_GRANTED, detail, "MessageHeader/From/OrganId")
    if sender != node.org:
        detail = f"the package is from {sender}; this call acts for {node.org}"
        raise GatewayError(422, Reason.ORG_MISMATCH, detail, "MessageHeader/From/OrganId")
    report = {
        "verdict": sig.verdict.value,
        "subject": sig.subject,
        "legacy": sig.legacy,
        "detail": sig.detail,
    }
    return await idempotent(
        request, gw, caller, node, body,
        lambda mid: node.sender.send(pkg, wait=_wait(gw, wait), message_id=mid),
        extra={"package_signature": report},
    )  # fmt: skip


def _presigned(gw: GatewayDep, node: OrgNode, body: bytes) -> tuple[Envelope, bytes]:
    """Check a pre-signed envelope; add the org's seal when only the official signed it."""
    env = parse_envelope(body)
    if canonical_org_code(env.sender.code) != node.org:
        raise GatewayError(422, Reason.ORG_MISMATCH, f"the envelope is from {env.sender.code}", "sender.code")
    roles = [s.role for s in env.signatures]
    data = envelope_signing_input(env)
    raw = body
    if SignerRole.OFFICIAL in roles and SignerRole.ORGANIZATION not in roles:
        official = next(s for s in env.signatures if s.role is SignerRole.OFFICIAL)
        seal = make_signature(node.identity.seal, SignerRole.ORGANIZATION, data, official.signing_time)
        env = env.model_copy(update={"signatures": [*env.signatures, seal]})
        raw = encode(env)
    check_envelope(env)
    check_message_size(raw)
    gw.trust.policy.verify_document(data, env.signatures, node.org, now=datetime.now(UTC))  # TrustError: 422
    return env, raw


@router.post(
    "/v1/orgs/{org}/envelopes", status_code=202, summary="Submit an envelope signed elsewhere",
    openapi_extra=binary_body(("application/octet-stream",), "the envelope's wire bytes (docs/ENVELOPE.md)"),
    response_model=None, responses=ACCEPTED,
)  # fmt: skip
async def submit_envelope(
    request: Request, gw: GatewayDep, caller: Caller, node: Node, wait: Wait = 0
) -> JSONResponse:
    require_media_type(request, "application/octet-stream")
    body = await request.body()
    env, raw = _presigned(gw, node, body)
    if node.state.sent_envelope(env.message_id) is not None:  # sent before: the same answer, not a gap
        replay = await recover(node, None)(env.message_id)
        if replay is not None:
            return JSONResponse(replay[1], status_code=replay[0], headers={"Idempotent-Replayed": "true"})
    return await idempotent(
        request, gw, caller, node, body, lambda _mid: node.sender.send_signed(env, raw, wait=_wait(gw, wait))
    )


@router.get("/v1/orgs/{org}/envelopes/next", summary="Where the next pre-signed envelope must stand")
async def next_position(gw: GatewayDep, node: Node) -> NextPosition:
    await node.sender.recover()  # a refusal since the last submit that the bus did not count: resync first
    position = node.state.read()
    snapshot = await node.sender.directory.current_hash(timeout=gw.bus.directory_timeout)
    return NextPosition(org=node.org, sequence=position.sequence + 1, previous_hash=position.last_hash.hex(),
                        directory_snapshot=snapshot.hex())  # fmt: skip


def _notices(node: OrgNode, message_id: str) -> list[tuple[str, Notice]]:
    """The bus's sealed notices about ``message_id``, each with the signing hash it answers."""
    return [
        (r.get("signing_hash", ""),
         Notice(StatusCode(r["status"]), r["reason"], datetime.fromisoformat(r["at"]), r["receipt_id"]))
        for r in node.store.receipts()
        if r["kind"] == "notice" and r["envelope_id"] == message_id and r["seal"] == "valid"
    ]  # fmt: skip


def _notice(node: OrgNode, message_id: str, digest: str = "") -> Notice | None:
    """The notice about the copy of ``digest`` (the one the node holds now: a document signed again
    after the bus did not count it keeps its id); any, for a log written before hashes were kept."""
    found = _notices(node, message_id)
    return next((n for h, n in found if h == digest), None) or next((n for h, n in found if not h), None)


def log_entries(node: OrgNode, envelope_id: str | None = None) -> list[ReceiptLogEntry]:
    return [
        ReceiptLogEntry(
            receipt_id=r["receipt_id"],
            kind=r["kind"],
            envelope_id=r["envelope_id"],
            document_id=r["document_id"],
            from_org=r["from"],
            to_org=r["to"],
            status=r["status"],
            reason=r["reason"],
            by=r["by"],
            at=r["at"],
            seal=r["seal"],
        )
        for r in node.store.receipts()
        if envelope_id is None or r["envelope_id"] == envelope_id
    ]


async def _recipients(gw: GatewayDep, env: Envelope) -> list[RecipientStatus]:
    codes = [canonical_org_code(c) for c in env.recipients]
    snapshot = await gw.directory.snapshot(env.directory_snapshot, timeout=gw.bus.directory_timeout)
    if snapshot is not None:
        with contextlib.suppress(RoutingError):  # the bus refused it: its explicit names
            codes = list(route(snapshot, env.sender.code, env.recipients, env.groups).recipients)
    try:
        # the node's own login reads its own documents' status topic (docs/SECURITY.md, per-org status)
        sender = canonical_org_code(env.sender.code)
        kafka = gw.bus.connection(sender)
        records = await read_to_end(kafka, sender_status_topic(sender), timeout=gw.bus.directory_timeout)
    except ReadError as exc:
        raise GatewayError(503, GatewayReason.BROKER_UNAVAILABLE, str(exc)) from exc
    addressed = {env.message_id: (env.document.document_id, codes)}
    verify = seal_check(gw.trust.policy)  # only sealed receipts of addressed recipients count
    rows = status_rows(((r.key, r.value) for r in records), env.message_id, addressed, verify)

    def iso(d: datetime | None) -> str | None:
        return d.isoformat() if d is not None else None

    return [
        RecipientStatus(
            recipient=r.recipient,
            status=r.status.value if r.status else None,
            at=iso(r.at),
            routed_at=iso(r.routed_at),
            by=r.by,
            reason=r.reason,
        )
        for r in rows
    ]


@router.get("/v1/orgs/{org}/documents/{message_id}", summary="A sent document's outcome and status")
async def document_status(
    gw: GatewayDep, node: Node,
    message_id: Annotated[str, Path(pattern=MESSAGE_ID)],
    wait: Wait = 0,
    until: Annotated[
        StatusCode | None, Query(description="with wait: until a receipt of this status")
    ] = None,
) -> DocumentStatus:  # fmt: skip
    raw = node.state.sent_envelope(message_id)
    if raw is None:
        raise GatewayError(
            404, GatewayReason.NOT_FOUND, f"{node.org} did not send {message_id} from this node"
        )

    def current() -> tuple[Envelope, str, Notice | None]:
        """The copy the node holds now (signed again after an uncounted refusal?) and its notice;
        no notice while a refusal the node is answering by signing again is the latest word."""
        env = parse_envelope(node.state.sent_envelope(message_id) or raw)
        digest = signing_hash(env).hex()
        notice = _notice(node, message_id, digest)
        again = notice is not None and not notice.accepted and may_be_uncounted(notice.reason, message_id)
        return env, digest, None if again and node.sender.can_sign_again(env) else notice

    def ready() -> bool:
        if until is None:
            return current()[2] is not None
        return any(e.status == until.value for e in log_entries(node, message_id))

    await node.wait_for(ready, min(wait, gw.settings.gateway_max_wait))
    env, digest, notice = current()
    outcome = notice_out(notice) if notice is not None else None
    state = "pending" if outcome is None else ("accepted" if outcome.accepted else "refused")
    earlier = [notice_out(n) for h, n in _notices(node, message_id) if h and h != digest]
    return DocumentStatus(
        org=node.org, message_id=message_id, document_id=env.document.document_id, sequence=env.sequence,
        state=state, outcome=outcome, earlier=earlier, recipients=await _recipients(gw, env),
        receipts=[e for e in log_entries(node, message_id) if e.kind == "receipt"],
    )  # fmt: skip
