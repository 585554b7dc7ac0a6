"""The OpenAPI 3.1 document's shared parts: problem responses, raw and multipart request bodies.

Routes that read their body themselves (to answer a wrong content type with 415 and a malformed
multipart with 400, instead of a generic validation error) declare it here, so the document still
says exactly what they take. Every 4xx/5xx answer is ``application/problem+json`` (:class:`Problem`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from docbus.gateway.models import Submitted
from docbus.gateway.problems import PROBLEM_TYPE, Problem

__all__ = ["ACCEPTED", "PROBLEMS", "binary_body", "install_openapi", "multipart_body"]

_REF = {"$ref": "#/components/schemas/Problem"}
_WHY = {
    400: "malformed request (bad multipart, unsafe or broken XML, bad idempotency key)",
    401: "no valid bearer token",
    403: "the caller may not act for this org",
    404: "unknown org, document or file",
    409: "a pre-signed envelope at a stale chain position",
    413: "request over the size limit",
    415: "wrong content type",
    422: "refused: a field, a signature, a contract rule (reason says which)",
    503: "the bus did not acknowledge: retry with the same Idempotency-Key",
}
PROBLEMS: dict[int | str, dict[str, Any]] = {code: {"description": why} for code, why in _WHY.items()}
ACCEPTED: dict[int | str, dict[str, Any]] = {202: {"model": Submitted, "description": "signed and published"}}

_KEY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "a retried POST with the same key never sends twice; the first answer is replayed",
}  # fmt: skip


def multipart_body() -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["metadata", "file"],
        "properties": {
            "metadata": {"type": "string", "description": "JSON: the SubmitMetadata schema"},
            "file": {"type": "string", "format": "binary", "description": "the main document (PDF)"},
            "attachments": {"type": "array", "items": {"type": "string", "format": "binary"}},
        },
    }
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}},
        "parameters": [_KEY_HEADER],
    }


def binary_body(types: tuple[str, ...], what: str) -> dict[str, Any]:
    content = {t: {"schema": {"type": "string", "format": "binary"}} for t in types}
    return {
        "requestBody": {"required": True, "description": what, "content": content},
        "parameters": [_KEY_HEADER],
    }


def _problems_everywhere(doc: dict[str, Any]) -> None:
    for path in doc.get("paths", {}).values():
        for op in path.values():
            for code, response in op.get("responses", {}).items():
                if str(code)[0] in "45":
                    response["content"] = {PROBLEM_TYPE: {"schema": _REF}}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, openapi_version="3.1.0",
                              description=app.description, routes=app.routes)  # fmt: skip
            doc.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                Problem.model_json_schema()
            )
            _problems_everywhere(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
