"""Errors the gateway answers with: RFC 9457 ``application/problem+json`` carrying a stable reason code.

Reason codes are the contract's own (schemas/reasons.py: an edXML or envelope refusal keeps the code
the library gave) plus the gateway's (who may call, what the request looks like), listed in
docs/GATEWAY.md. Every refusal happens before anything is signed or published: nothing half-sent.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from producers.send import ResignRequired
from schemas.errors import DocbusError, OperationError, TransportError
from schemas.reasons import Reason

__all__ = ["PROBLEM_TYPE", "GatewayError", "GatewayReason", "Problem", "install_handlers", "problem_response"]

logger = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"


class GatewayReason(StrEnum):
    """The gateway's own refusals (beside schemas.reasons.Reason)."""

    UNAUTHENTICATED = "UNAUTHENTICATED"  # no bearer token, an unknown or expired one
    INVALID_CLIENT = "INVALID_CLIENT"  # token request: unknown client or wrong secret
    UNSUPPORTED_GRANT = "UNSUPPORTED_GRANT"  # token request: only client_credentials
    ORG_NOT_GRANTED = "ORG_NOT_GRANTED"  # the caller acts for other org codes
    ORG_NOT_SERVED = "ORG_NOT_SERVED"  # this gateway does not serve that org
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    BAD_REQUEST = "BAD_REQUEST"  # a parameter or body part the API does not take
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"  # same key, another request
    IDEMPOTENCY_KEY_INVALID = "IDEMPOTENCY_KEY_INVALID"
    SEND_IN_PROGRESS = "SEND_IN_PROGRESS"  # the same key is being sent right now
    BROKER_UNAVAILABLE = "BROKER_UNAVAILABLE"  # the bus did not acknowledge: retry with the same key
    SIGNING_FAILED = "SIGNING_FAILED"  # the node's key or token did not sign


class Problem(BaseModel):
    """RFC 9457 problem details; ``reason`` is the stable code to route on."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    reason: str
    field: str | None = None
    # SEQUENCE_GAP for an envelope signed elsewhere: where to sign it again (producers.send.ResignRequired)
    sequence: int | None = None
    previous_hash: str | None = None


class GatewayError(Exception):
    def __init__(self, status: int, reason: Reason | GatewayReason, detail: str, field: str | None = None):
        super().__init__(f"{reason.value}: {detail}")
        self.status, self.reason, self.detail, self.field = status, reason, detail, field


_TITLES = {
    400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Request too large", 415: "Unsupported media type",
    422: "Unprocessable content", 502: "Bus unavailable", 503: "Bus unavailable",
}  # fmt: skip

# where a contract / edXML refusal lands in HTTP
_BY_REASON: dict[str, int] = {
    Reason.TOO_LARGE.value: 413,
    Reason.MALFORMED.value: 400,
    Reason.XML_DTD_REFUSED.value: 400,
    Reason.XML_ENTITY_REFUSED.value: 400,
    Reason.XML_TOO_DEEP.value: 400,
    Reason.UNKNOWN_SCHEMA.value: 400,
    Reason.SEQUENCE_GAP.value: 409,
}


def status_of(error: DocbusError) -> int:
    if isinstance(error, TransportError):
        return 503  # the bus did not answer: nothing was refused
    if isinstance(error, OperationError):
        return 500
    return _BY_REASON.get(error.reason.value, 422)


def problem_response(
    status: int, reason: str, detail: str, field: str | None = None, headers: dict[str, str] | None = None,
    *, sequence: int | None = None, previous_hash: str | None = None,
) -> JSONResponse:
    body = Problem(
        title=_TITLES.get(status, "Error"), status=status, detail=detail, reason=reason, field=field,
        sequence=sequence, previous_hash=previous_hash,
    )  # fmt: skip
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_TYPE, headers=headers
    )


def _validation_detail(exc: RequestValidationError) -> tuple[str, str | None]:
    errors: list[Any] = list(exc.errors())
    if not errors:
        return "the request does not match the API", None
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}", where or None


async def _on_gateway(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return problem_response(exc.status, exc.reason.value, exc.detail, exc.field, headers)


async def _on_docbus(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DocbusError)
    field = getattr(exc, "field", None)
    if isinstance(exc, ResignRequired):
        return problem_response(status_of(exc), exc.reason.value, exc.detail, field,
                                sequence=exc.sequence, previous_hash=exc.previous_hash.hex())  # fmt: skip
    return problem_response(status_of(exc), exc.reason.value, exc.detail, field)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail, where = _validation_detail(exc)
    return problem_response(422, GatewayReason.BAD_REQUEST.value, detail, where)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    reasons = {404: GatewayReason.NOT_FOUND, 405: GatewayReason.METHOD_NOT_ALLOWED,
               415: GatewayReason.UNSUPPORTED_MEDIA_TYPE, 401: GatewayReason.UNAUTHENTICATED}  # fmt: skip
    reason = reasons.get(exc.status_code, GatewayReason.BAD_REQUEST)
    return problem_response(exc.status_code, reason.value, str(exc.detail))


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _on_gateway)
    app.add_exception_handler(DocbusError, _on_docbus)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
