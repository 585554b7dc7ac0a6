"""Status receipts: a clerk's 02-06 about a received document, the sender's recall (13) and the
recipients' answers to it (15/16); and the log of receipts and notices this org received."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from docbus.gateway.auth import Client
from docbus.gateway.deps import MESSAGE_ID, Caller, GatewayDep, Node
from docbus.gateway.idempotency import Outcome, valid_key
from docbus.gateway.models import ReceiptIn, ReceiptLogEntry, ReceiptSent
from docbus.gateway.node import OrgNode
from docbus.gateway.problems import GatewayError, GatewayReason
from docbus.gateway.routes_documents import XML_TYPES, log_entries, require_media_type
from docbus.gateway.schema import PROBLEMS, binary_body
from docbus.gateway.submit import fingerprint
from producers.edxml.status import parse_status
from producers.keys import SigningError
from producers.publisher import PublishError
from producers.receipts import make_receipt
from schemas.canonical import signing_hash
from schemas.codec import encode
from schemas.envelope import Envelope, parse_envelope
from schemas.errors import is_refusal
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason
from schemas.receipt import StatusCode

__all__ = ["router"]

router = APIRouter(tags=["receipts"], responses=PROBLEMS)
_SENT: dict[int | str, dict[str, Any]] = {201: {"model": ReceiptSent, "description": "sealed and published"}}


def _about(node: OrgNode, message_id: str, code: StatusCode) -> tuple[Envelope, str]:
    """The envelope a receipt answers and whom it goes to (the rules of `docbus receipt`)."""
    if code is StatusCode.RECALL_REQUESTED:
        raw = node.state.sent_envelope(message_id)
        if raw is None:
            raise GatewayError(
                404, GatewayReason.NOT_FOUND, f"{node.org} did not send {message_id} (13 is the sender's)"
            )
        env = parse_envelope(raw)
        return env, (env.recipients or [env.sender.code])[0]  # the bus forwards a 13 to every recipient
    if not node.store.has(message_id):
        raise GatewayError(404, GatewayReason.NOT_FOUND, f"{message_id} is not in {node.org}'s inbox")
    env = parse_envelope(node.store.envelope_bytes(message_id))
    if code in (StatusCode.RECALL_AGREED, StatusCode.RECALL_REFUSED) and not any(
        r["envelope_id"] == message_id and r["status"] == StatusCode.RECALL_REQUESTED.value
        and r["from"] == canonical_org_code(env.sender.code) and r["seal"] == "valid"
        for r in node.store.receipts()
    ):  # fmt: skip
        raise GatewayError(422, Reason.POLICY, f"no recall (13) of {message_id} from its sender has arrived")
    return env, env.sender.code


@router.post("/v1/orgs/{org}/receipts", status_code=201, summary="Send a sealed status receipt",
             response_model=None, responses=_SENT,
             openapi_extra={"parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                            "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                                       "pattern": "^[!-~]+$"}}]})  # fmt: skip
async def send_receipt(
    request: Request, gw: GatewayDep, caller: Caller, node: Node, body: ReceiptIn
) -> JSONResponse:
    return await _receipt(request, gw, caller, node, body)


def _by_document(node: OrgNode, document_id: str, code: StatusCode) -> str:
    """The message id of the envelope an edXML status names by its DocumentId (the newest one)."""
    if code is StatusCode.RECALL_REQUESTED:
        sent = sorted(node.state.sent_dir.glob("*.bin"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in sent if node.state.sent_dir.is_dir() else []:
            if parse_envelope(path.read_bytes()).document.document_id == document_id:
                return path.stem
    else:
        for meta in reversed(node.store.documents()):
            if meta["document_id"] == document_id:
                return str(meta["message_id"])
    raise GatewayError(
        404, GatewayReason.NOT_FOUND, f"no document {document_id} at {node.org}", "ResponseFor"
    )


@router.post("/v1/orgs/{org}/receipts/edxml", status_code=201, summary="Send an edXML status package",
             response_model=None, responses=_SENT,
             openapi_extra=binary_body(XML_TYPES, "an edXML Status (bare or in a SOAP Header)"))  # fmt: skip
async def send_status_package(request: Request, gw: GatewayDep, caller: Caller, node: Node) -> JSONResponse:
    require_media_type(request, *XML_TYPES)
    msg = parse_status(await request.body())  # EdxmlError: 400 / 413 / 422 with its reason
    origin = canonical_org_code(msg.from_org)
    if not caller.may_act_for(origin):
        raise GatewayError(403, GatewayReason.ORG_NOT_GRANTED, f"From/OrganId {msg.from_org}", "From/OrganId")
    if origin != node.org:
        detail = f"the status is from {origin}; this call acts for {node.org}"
        raise GatewayError(422, Reason.ORG_MISMATCH, detail, "From/OrganId")
    by, position = (msg.staff.staff, msg.staff.department) if msg.staff else ("", "")
    mid = _by_document(node, msg.document_id, msg.status)
    try:
        body = ReceiptIn(
            message_id=mid, status=msg.status.value, reason=msg.description, by=by, position=position
        )
    except ValidationError as exc:
        raise GatewayError(
            422, Reason.INVALID_FIELD, f"StatusCode: {exc.errors()[0]['msg']}", "StatusCode"
        ) from None
    return await _receipt(request, gw, caller, node, body)


async def _receipt(
    request: Request, gw: GatewayDep, caller: Client, node: OrgNode, body: ReceiptIn
) -> JSONResponse:
    code = StatusCode(body.status)
    env, to = _about(node, body.message_id, code)

    async def send(receipt_id: str) -> Outcome:
        try:
            made = make_receipt(
                node.identity, envelope_message_id=env.message_id, document_id=env.document.document_id,
                signing_hash=signing_hash(env), to_org=to, status=code, reason=body.reason or None,
                by_name=body.by, by_position=body.position, message_id=receipt_id,
            )  # fmt: skip
        except ValueError as exc:
            raise GatewayError(422, Reason.INVALID_FIELD, str(exc)) from None
        except SigningError as exc:
            raise GatewayError(422, GatewayReason.SIGNING_FAILED, str(exc)) from None
        try:
            await node.sender.publisher.publish_receipt(made, encode(made))
        except PublishError as exc:
            raise GatewayError(
                503, GatewayReason.BROKER_UNAVAILABLE, f"{exc}; retry with the same key"
            ) from exc
        out = ReceiptSent(receipt_id=made.message_id, org=node.org, message_id=env.message_id,
                          status=code.value, to_org=made.to_org)  # fmt: skip
        return 201, out.model_dump()

    async def resend(_: str) -> Outcome | None:
        return None  # a receipt is re-sent under its id: recipients and the bus keep it once

    key = request.headers.get("idempotency-key")
    if key is None:
        status, out = await send(str(uuid.uuid4()))
        return JSONResponse(out, status_code=status)
    if not valid_key(key):
        raise GatewayError(400, GatewayReason.IDEMPOTENCY_KEY_INVALID, "1-255 printable ASCII characters")
    raw = json.dumps(body.model_dump(), sort_keys=True).encode()

    def refused(exc: BaseException) -> bool:
        return is_refusal(exc) or isinstance(exc, ValidationError) or (
            isinstance(exc, GatewayError) and exc.status < 500
        )

    try:
        (status, out), replay = await gw.idempotency.run(
            caller.client_id, key, fingerprint(request, raw), send, resend, refused=refused
        )
    except KeyError:
        raise GatewayError(
            422, GatewayReason.IDEMPOTENCY_KEY_REUSED, "this key was used for another request"
        ) from None
    return JSONResponse(out, status_code=status, headers={"Idempotent-Replayed": "true"} if replay else {})


@router.get("/v1/orgs/{org}/receipts", summary="Receipts and bus notices this org received")
async def list_receipts(
    node: Node, envelope_id: Annotated[str | None, Query(pattern=MESSAGE_ID)] = None
) -> list[ReceiptLogEntry]:
    return log_entries(node, envelope_id)
