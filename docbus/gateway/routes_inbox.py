"""What the node received: list, one document with its signatures' verdicts, its files, its exact
envelope bytes, and the document as an edXML package (sealed by the org when asked)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from docbus.commands.edxml import seal_key
from docbus.gateway.deps import MESSAGE_ID, GatewayDep, Node
from docbus.gateway.models import InboxDocument
from docbus.gateway.node import OrgNode
from docbus.gateway.problems import GatewayError, GatewayReason
from docbus.gateway.routes_documents import log_entries
from docbus.gateway.schema import PROBLEMS
from producers.edxml import export_package
from producers.keys import SigningError
from schemas.envelope import parse_envelope

__all__ = ["router"]

router = APIRouter(tags=["inbox"], responses=PROBLEMS)
MessageIdPath = Annotated[str, Path(pattern=MESSAGE_ID)]
_OCTETS = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_BINARY: dict[int | str, dict[str, Any]] = {200: {"content": _OCTETS, "description": "the bytes"}}


def _document(node: OrgNode, meta: dict[str, Any], receipts: bool = False) -> InboxDocument:
    mid = meta["message_id"]
    return InboxDocument(
        **{
            k: meta[k]
            for k in InboxDocument.model_fields
            if k in meta and k not in ("receipt_sent", "receipts")
        },
        receipt_sent=node.store.receipt_sent(mid),
        receipts=log_entries(node, mid) if receipts else [],
    )


def _stored(node: OrgNode, message_id: str) -> dict[str, Any]:
    if not node.store.has(message_id):
        raise GatewayError(404, GatewayReason.NOT_FOUND, f"{message_id} is not in {node.org}'s inbox")
    return node.store.meta(message_id)


@router.get("/v1/orgs/{org}/inbox", summary="Documents this org received (verified and stored)")
async def list_inbox(
    gw: GatewayDep, node: Node,
    wait: Annotated[float, Query(ge=0, le=60, description="seconds to wait for message_id (or any)")] = 0,
    message_id: Annotated[str | None, Query(pattern=MESSAGE_ID)] = None,
    since: Annotated[str | None, Query(max_length=40, description="received after this ISO time")] = None,
) -> list[InboxDocument]:  # fmt: skip
    def ready() -> bool:
        return node.store.has(message_id) if message_id else bool(node.store.documents())

    await node.wait_for(ready, min(wait, gw.settings.gateway_max_wait))
    metas = node.store.documents()
    if message_id is not None:
        metas = [m for m in metas if m["message_id"] == message_id]
    if since is not None:
        metas = [m for m in metas if str(m.get("received_at", "")) > since]
    return [_document(node, m) for m in metas]


@router.get(
    "/v1/orgs/{org}/inbox/{message_id}", summary="One received document, its verification and receipts"
)
async def get_document(node: Node, message_id: MessageIdPath) -> InboxDocument:
    return _document(node, _stored(node, message_id), receipts=True)


@router.get("/v1/orgs/{org}/inbox/{message_id}/files/{name}", summary="Download a file", responses=_BINARY,
            response_class=Response)  # fmt: skip
async def get_file(
    node: Node, message_id: MessageIdPath, name: Annotated[str, Path(max_length=255)]
) -> Response:
    meta = _stored(node, message_id)
    if name not in meta.get("files", []):  # only the stored names: no path from the caller reaches the disk
        raise GatewayError(404, GatewayReason.NOT_FOUND, f"{message_id} has no file {name!r}")
    env = parse_envelope(node.store.envelope_bytes(message_id))
    payloads = [env.payload, *env.attachments]
    ctype = payloads[meta["files"].index(name)].content_type
    data = (node.store.folder(message_id) / "files" / name).read_bytes()
    return Response(data, media_type=ctype)


@router.get("/v1/orgs/{org}/inbox/{message_id}/envelope", summary="The exact envelope bytes received",
            responses=_BINARY, response_class=Response)  # fmt: skip
async def get_envelope(node: Node, message_id: MessageIdPath) -> Response:
    _stored(node, message_id)
    return Response(node.store.envelope_bytes(message_id), media_type="application/octet-stream")


_XML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/xml": {"schema": {"type": "string"}}}, "description": "edXML package"}
}


@router.get("/v1/orgs/{org}/inbox/{message_id}/edxml", summary="A received document as an edXML package",
            responses=_XML, response_class=Response)  # fmt: skip
async def get_edxml(
    gw: GatewayDep, node: Node, message_id: MessageIdPath,
    sign: Annotated[bool, Query(description="sign the package with the org's seal key")] = False,
) -> Response:  # fmt: skip
    _stored(node, message_id)
    env = parse_envelope(node.store.envelope_bytes(message_id))
    try:
        key, chain = seal_key(gw.bus, node.org) if sign else (None, None)
    except SigningError as exc:
        raise GatewayError(422, GatewayReason.SIGNING_FAILED, str(exc)) from None
    return Response(export_package(env, key=key, chain=chain), media_type="application/xml")
