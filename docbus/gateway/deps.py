"""FastAPI dependencies: the gateway, the authenticated caller, the org it acts for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2

from docbus.gateway.auth import Client
from docbus.gateway.node import OrgNode
from docbus.gateway.problems import GatewayError, GatewayReason
from docbus.gateway.runtime import Gateway

__all__ = ["MESSAGE_ID", "Caller", "GatewayDep", "Node", "current_gateway"]

MESSAGE_ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ORG_CODE = r"^[0-9A-Z.]{1,35}$"

_oauth = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/oauth/token")),
    scheme_name="clientCredentials",
    auto_error=False,
)


def current_gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


GatewayDep = Annotated[Gateway, Depends(current_gateway)]


def _caller(
    request: Request, gw: GatewayDep, authorization: Annotated[str | None, Depends(_oauth)]
) -> Client:
    scheme, _, token = (authorization or "").partition(" ")
    client = gw.tokens.client(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if client is None:
        raise GatewayError(
            401, GatewayReason.UNAUTHENTICATED, "a valid bearer token is needed (POST /oauth/token)"
        )
    request.state.client_id = client.client_id
    return client


Caller = Annotated[Client, Depends(_caller)]


def _node(
    request: Request,
    gw: GatewayDep,
    caller: Caller,
    org: Annotated[str, Path(pattern=ORG_CODE, description="the org acting (dotted or edXML form)")],
) -> OrgNode:
    node = gw.node(caller, org)
    request.state.org = node.org
    return node


Node = Annotated[OrgNode, Depends(_node)]
