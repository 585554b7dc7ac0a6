"""``POST /oauth/token``: the client credentials grant (RFC 6749 §4.4), secret in the form or in
HTTP Basic (client_secret_basic)."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Request
from starlette.formparsers import MultiPartException

from docbus.gateway.deps import GatewayDep
from docbus.gateway.models import Token
from docbus.gateway.problems import GatewayError, GatewayReason
from docbus.gateway.schema import PROBLEMS
from schemas.reasons import Reason

__all__ = ["router"]

router = APIRouter(tags=["auth"], responses=PROBLEMS)
_FORM = "application/x-www-form-urlencoded"
_BODY = {
    "requestBody": {"required": True, "content": {_FORM: {"schema": {
        "type": "object", "required": ["grant_type"],
        "properties": {"grant_type": {"type": "string", "enum": ["client_credentials"]},
                       "client_id": {"type": "string"}, "client_secret": {"type": "string"}},
    }}}},
}  # fmt: skip


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


@router.post("/oauth/token", summary="Trade client credentials for a bearer token", openapi_extra=_BODY)
async def token(request: Request, gw: GatewayDep) -> Token:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
        raise GatewayError(415, GatewayReason.UNSUPPORTED_MEDIA_TYPE, f"send {_FORM}")
    try:
        form = await request.form(max_files=0, max_fields=8)
    except MultiPartException as exc:
        raise GatewayError(400, Reason.MALFORMED, exc.message) from None
    if form.get("grant_type") != "client_credentials":
        raise GatewayError(400, GatewayReason.UNSUPPORTED_GRANT, "grant_type must be client_credentials")
    pair = _basic(request.headers.get("authorization", ""))
    client_id, secret = pair or (str(form.get("client_id") or ""), str(form.get("client_secret") or ""))
    client = gw.clients.authenticate(client_id, secret) if client_id and secret else None
    if client is None:
        raise GatewayError(401, GatewayReason.INVALID_CLIENT, "unknown client or wrong secret")
    request.state.client_id = client.client_id
    return Token(access_token=gw.tokens.issue(client), expires_in=int(gw.settings.gateway_token_ttl))
