"""Idempotent submits: an ``Idempotency-Key`` maps to one result, durably, per client.

The record is written *before* sending, with the message id the envelope will carry; so a retry
after a crash or a broker timeout finds that id and looks in the node state whether the envelope
was committed (then it is published from the outbox, never built again) or not (then it is built
now, under the same id). A retry with the key of another request is refused. Records live in
``<gateway>/idempotency/<sha256(client, key)>.json`` and are kept (a retry may come days later).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from producers.node_state import atomic_write

__all__ = ["IdempotencyStore", "Outcome", "Record", "valid_key"]

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
Outcome = tuple[int, dict[str, Any]]  # HTTP status, JSON body


def valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


@dataclass
class Record:
    client: str
    key: str
    fingerprint: str
    message_id: str
    state: str = "sending"  # sending | done
    status: int = 0
    body: dict[str, Any] | None = None


class IdempotencyStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._locks: dict[str, asyncio.Lock] = {}

    def _name(self, client: str, key: str) -> str:
        return hashlib.sha256(f"{client}\x00{key}".encode()).hexdigest()

    def _read(self, name: str) -> Record | None:
        try:
            return Record(**json.loads((self.folder / f"{name}.json").read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None

    def _write(self, name: str, record: Record) -> None:
        atomic_write(self.folder / f"{name}.json", json.dumps(asdict(record), ensure_ascii=False).encode())

    async def run(
        self,
        client: str,
        key: str,
        fingerprint: str,
        send: Callable[[str], Awaitable[Outcome]],
        recover: Callable[[str], Awaitable[Outcome | None]],
        *,
        refused: Callable[[BaseException], bool],
    ) -> tuple[Outcome, bool]:
        """``send(message_id)`` once per key; returns the outcome and whether it is a replay.
        ``recover(message_id)`` finishes a send interrupted earlier (None: nothing was committed).
        An exception for which ``refused`` is true sent nothing: the key is free again. KeyError
        when the key was used for another request."""
        name = self._name(client, key)
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            record = self._read(name)
            if record is not None and record.fingerprint != fingerprint:
                raise KeyError(key)
            if record is not None and record.state == "done" and record.body is not None:
                return (record.status, record.body), True
            if record is not None:
                found = await recover(record.message_id)
                if found is not None:
                    self._done(name, record, found)
                    return found, True
            else:
                record = Record(client, key, fingerprint, str(uuid.uuid4()))
                self._write(name, record)
            try:
                outcome = await send(record.message_id)
            except BaseException as exc:
                if refused(exc):
                    (self.folder / f"{name}.json").unlink(missing_ok=True)
                raise
            self._done(name, record, outcome)
            return outcome, False

    def _done(self, name: str, record: Record, outcome: Outcome) -> None:
        record.state, record.status, record.body = "done", outcome[0], outcome[1]
        self._write(name, record)
