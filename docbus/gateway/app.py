"""The gateway's FastAPI app: routers, problem handlers, the size limit and the access log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from docbus.gateway import routes_auth, routes_directory, routes_documents, routes_inbox, routes_receipts
from docbus.gateway.middleware import AccessLog, BodyLimit
from docbus.gateway.problems import install_handlers
from docbus.gateway.runtime import Gateway
from docbus.gateway.schema import install_openapi

__all__ = ["create_app"]

DESCRIPTION = """The HTTP gateway of a docbus node, for the e-office systems beside it (docs/GATEWAY.md).
Submit documents (files + header, edXML packages, pre-signed envelopes), read their outcome and
every recipient's status, list and download what the node received, send status receipts, search
the directory. Authentication: OAuth2 client credentials; errors: application/problem+json."""


def create_app(gateway: Gateway, *, manage: bool = True) -> FastAPI:
    """The app over ``gateway``; ``manage``: start and stop it with the app's lifespan."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage:
            await gateway.start()
        try:
            yield
        finally:
            if manage:
                await gateway.stop()

    app = FastAPI(title="docbus gateway", version="1.0.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.gateway = gateway
    install_handlers(app)
    for module in (routes_auth, routes_documents, routes_inbox, routes_receipts, routes_directory):
        app.include_router(module.router)

    @app.get("/healthz", tags=["health"], summary="Liveness: the orgs served")
    async def healthz() -> dict[str, list[str]]:
        return {"orgs": sorted(gateway.nodes)}

    install_openapi(app)
    app.add_middleware(BodyLimit, limit=gateway.settings.gateway_max_request_bytes)
    app.add_middleware(AccessLog, write=gateway.log_access)  # outermost: a 413 is logged too
    return app
