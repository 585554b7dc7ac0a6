"""Sending through the gateway: every submit path ends here, idempotent by ``Idempotency-Key``.

Refusals (ContractError, TrustError, EdxmlError, GatewayError 4xx, SigningError) happen before an
envelope is committed to the node state, so they free the key; a broker failure after the commit
keeps it, and the retry publishes the committed bytes from the outbox instead of building again.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from docbus.gateway.auth import Client
from docbus.gateway.idempotency import Outcome, valid_key
from docbus.gateway.models import NoticeOut, Submitted
from docbus.gateway.node import OrgNode
from docbus.gateway.problems import GatewayError, GatewayReason
from docbus.gateway.runtime import Gateway
from producers.keys import SigningError
from producers.publisher import PublishError
from producers.send import Outcome as Notice
from producers.send import SendResult
from schemas.canonical import signing_hash
from schemas.envelope import parse_envelope
from schemas.errors import is_refusal

__all__ = ["fingerprint", "idempotent", "notice_out", "recover", "submitted"]


def fingerprint(request: Request, body: bytes) -> str:
    h = hashlib.sha256()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()  # not the boundary
    for part in (request.method, request.url.path, media_type, ""):
        h.update(part.encode() + b"\x00")
    h.update(body)
    return h.hexdigest()


def notice_out(n: Notice) -> NoticeOut:
    return NoticeOut(status=n.status.value, accepted=n.accepted, reason=n.reason, at=n.at.isoformat(),
                     notice_id=n.notice_id)  # fmt: skip


def submitted(org: str, result: SendResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    outcome = notice_out(result.outcome) if result.outcome is not None else None
    state = "pending" if outcome is None else ("accepted" if outcome.accepted else "refused")
    body = Submitted(
        org=org, message_id=result.message_id, document_id=result.document_id, sequence=result.sequence,
        signing_hash=result.signing_hash.hex(), state=state, outcome=outcome, **(extra or {}),
    )  # fmt: skip
    return body.model_dump(mode="json")


def _refused(exc: BaseException) -> bool:
    return is_refusal(exc) or isinstance(exc, SigningError | LookupError) or (
        isinstance(exc, GatewayError) and exc.status < 500
    )


def recover(node: OrgNode, extra: dict[str, Any] | None) -> Callable[[str], Awaitable[Outcome | None]]:
    async def finish(message_id: str) -> Outcome | None:
        raw = node.state.sent_envelope(message_id)
        if raw is None and any(parse_envelope(b).message_id == message_id for _, b in node.state.pending()):
            async with node.state.reserve():
                await node.sender.flush_pending()
            raw = node.state.sent_envelope(message_id)
        if raw is None:
            return None  # never committed: send it now under the same id
        env = parse_envelope(raw)
        result = SendResult(
            env.message_id, env.document.document_id, env.sequence, signing_hash(env), "", 0, 0
        )
        return 202, submitted(node.org, result, extra)

    return finish


async def idempotent(
    request: Request,
    gw: Gateway,
    caller: Client,
    node: OrgNode,
    body: bytes,
    send: Callable[[str], Awaitable[SendResult]],
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """Run ``send(message_id)`` at most once per idempotency key; the answer as JSON (202)."""

    async def run(message_id: str) -> Outcome:
        try:
            result = await send(message_id)
        except SigningError as exc:
            raise GatewayError(422, GatewayReason.SIGNING_FAILED, str(exc)) from exc
        except PublishError as exc:
            raise GatewayError(
                503, GatewayReason.BROKER_UNAVAILABLE, f"{exc}; retry with the same key"
            ) from exc
        except LookupError as exc:
            raise GatewayError(503, GatewayReason.BROKER_UNAVAILABLE, str(exc)) from exc
        request.state.message_id = result.message_id
        return 202, submitted(node.org, result, extra)

    key = request.headers.get("idempotency-key")
    if key is None:
        status, out = await run(str(uuid.uuid4()))
        return JSONResponse(out, status_code=status)
    if not valid_key(key):
        raise GatewayError(400, GatewayReason.IDEMPOTENCY_KEY_INVALID, "1-255 printable ASCII characters")
    try:
        (status, out), replay = await gw.idempotency.run(
            caller.client_id, key, fingerprint(request, body), run, recover(node, extra), refused=_refused
        )
    except KeyError:
        raise GatewayError(
            422, GatewayReason.IDEMPOTENCY_KEY_REUSED, "this key was used for another request"
        ) from None
    request.state.message_id = out.get("message_id")
    headers = {"Idempotent-Replayed": "true"} if replay else {}
    return JSONResponse(out, status_code=status, headers=headers)
