"""The gateway's running parts: the orgs it serves, who may call it, idempotency records, the
address book and the access log. Created by ``docbus gateway run``; the FastAPI app holds one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from docbus.gateway.auth import Client, ClientRegistry, TokenIssuer
from docbus.gateway.idempotency import IdempotencyStore
from docbus.gateway.node import OrgNode
from docbus.gateway.problems import GatewayError, GatewayReason
from docbus.pki_folder import TrustFiles
from docbus.settings import ADMIN, Settings
from producers.directory_view import DirectoryView
from producers.identity import NodeIdentity
from producers.keys import SigningError
from schemas.errors import ContractError
from schemas.orgcode import canonical_org_code

__all__ = ["Gateway"]

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("docbus.gateway.access")


def _identity(bus: Settings, code: str, official: str) -> NodeIdentity:
    secret = bus.pki_passphrase.get_secret_value()
    try:
        return NodeIdentity.from_pki(bus.pki, code, secret, official)
    except SigningError:
        logger.warning("%s: no official key: documents must come pre-signed", code)
        return NodeIdentity.from_pki(bus.pki, code, secret)


class Gateway:
    def __init__(self, settings: Settings) -> None:
        bus = self.bus = self.settings = settings
        self.folder = settings.gateway_folder(bus.home)
        self.clients = ClientRegistry(self.folder / "clients.json")
        self.tokens = TokenIssuer(settings.gateway_token_ttl)
        self.idempotency = IdempotencyStore(self.folder / "idempotency")
        self.access_log = self.folder / "access.jsonl"
        self.trust = TrustFiles(bus.pki)
        # the address book is public to every org: read it as the first org served
        first = canonical_org_code(settings.gateway_orgs[0]) if settings.gateway_orgs else ADMIN
        self.directory = DirectoryView(
            bus.connection(first), policy=self.trust.policy, authority=bus.directory_org
        )
        self.nodes: dict[str, OrgNode] = {}
        for org in settings.gateway_orgs:
            code = canonical_org_code(org)
            self.nodes[code] = OrgNode(
                _identity(bus, code, settings.gateway_official), kafka=bus.connection(code),
                node_dir=bus.home / "nodes" / code, policy=self.trust.policy, directory=self.directory,
                bus_org=bus.bus_org, refresh=self.trust.refresh, inline_max=bus.inline_max_bytes,
                chunk_size=bus.chunk_bytes,
            )  # fmt: skip
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        await self.directory.refresh(timeout=self.bus.directory_timeout)
        started: list[OrgNode] = []
        try:
            for node in self.nodes.values():
                await node.start()
                started.append(node)
        except BaseException:
            for node in started:
                await node.stop()
            raise
        self._refresher = asyncio.create_task(self._refresh_directory())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        for node in self.nodes.values():
            await node.stop()

    async def _refresh_directory(self) -> None:
        while True:
            await asyncio.sleep(self.settings.gateway_directory_refresh)
            try:
                await self.directory.refresh(timeout=self.bus.directory_timeout)
            except Exception as exc:  # a broker hiccup must not end the gateway; next round retries
                logger.warning("directory refresh failed: %r", exc)

    def node(self, caller: Client, org: str) -> OrgNode:
        """The org's node, if the caller may act for it and this gateway serves it."""
        try:
            code = canonical_org_code(org)
        except (ContractError, ValueError):
            raise GatewayError(404, GatewayReason.ORG_NOT_SERVED, f"{org!r} is not an org code") from None
        if not caller.may_act_for(code):
            raise GatewayError(
                403, GatewayReason.ORG_NOT_GRANTED, f"client {caller.client_id} may not act for {code}"
            )
        found = self.nodes.get(code)
        if found is None:
            raise GatewayError(404, GatewayReason.ORG_NOT_SERVED, f"this gateway does not serve {code}")
        return found

    def log_access(self, entry: dict[str, Any]) -> None:
        """One line per call: who, what, the answer (also to the ``docbus.gateway.access`` logger)."""
        line = json.dumps({"at": datetime.now(UTC).isoformat(), **entry}, ensure_ascii=False)
        access_logger.info(line)
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.access_log.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
