"""Pure ASGI middleware: the request size limit (413 before the body is parsed) and the access log
(one line per call with the client that made it)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docbus.gateway.problems import PROBLEM_TYPE, Problem
from schemas.reasons import Reason

__all__ = ["AccessLog", "BodyLimit"]


async def _problem(send: Send, status: int, reason: str, detail: str) -> None:
    body = json.dumps(Problem(title="Request too large", status=status, detail=detail, reason=reason)
                      .model_dump(exclude_none=True)).encode()  # fmt: skip
    headers = [(b"content-type", PROBLEM_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Reads the whole body up to ``limit`` bytes (the API's bodies are bounded), then replays it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"the request body is over {self.limit} bytes"
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await _problem(send, 413, Reason.TOO_LARGE.value, too_large)
                return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _problem(send, 413, Reason.TOO_LARGE.value, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, sent = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # disconnect, when the client goes
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class AccessLog:
    def __init__(self, app: ASGIApp, write: Callable[[dict[str, Any]], None]) -> None:
        self.app, self.write = app, write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            state = scope.get("state", {})
            headers = dict(scope["headers"])
            peer = scope.get("client")
            self.write({
                "client": state.get("client_id"), "method": scope["method"], "path": scope["path"],
                "status": status or 500, "org": state.get("org"), "message_id": state.get("message_id"),
                "idempotency_key": headers.get(b"idempotency-key", b"").decode("latin-1") or None,
                "peer": f"{peer[0]}:{peer[1]}" if peer else None,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            })  # fmt: skip
