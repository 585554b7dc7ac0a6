"""The HTTP gateway of a node (docs/GATEWAY.md): e-office systems submit and receive through it."""

from docbus.gateway.app import create_app
from docbus.gateway.runtime import Gateway
from docbus.gateway.settings import GatewaySettings

__all__ = ["Gateway", "GatewaySettings", "create_app"]
