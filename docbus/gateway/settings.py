"""The gateway's part of the one settings model (docbus/settings.py): ``DOCBUS_GATEWAY_*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

__all__ = ["GatewayConfig"]

MiB = 1024 * 1024


class GatewayConfig(BaseModel):
    """``docbus gateway run``: where it listens, whom it serves, its limits."""

    #: the address to listen on: loopback unless a TLS-terminating proxy stands in front
    gateway_host: str = "127.0.0.1"
    #: the port (0: any free port, printed at start)
    gateway_port: int = Field(default=8480, ge=0, le=65535)
    #: org codes this gateway serves (each needs its seal, and an official to sign documents)
    gateway_orgs: list[str] = Field(default_factory=list)
    #: the gateway's state folder name under <home>/gateways (default: the first org)
    gateway_name: str = ""
    #: the official whose key signs submitted documents ("*": the first one in the PKI folder)
    gateway_official: str = "*"
    #: the whole request body at most; an edXML package at most 4 MiB, an envelope at most 1 MiB
    gateway_max_request_bytes: int = Field(default=6 * MiB, ge=1024)
    #: lifetime of an access token in seconds
    gateway_token_ttl: float = Field(default=3600.0, gt=0)
    #: the longest ``wait`` a request may ask for, in seconds
    gateway_max_wait: float = Field(default=60.0, ge=0)
    #: seconds between directory re-reads (the address book)
    gateway_directory_refresh: float = Field(default=60.0, gt=0)

    def gateway_folder(self, home: Path) -> Path:
        name = self.gateway_name or (self.gateway_orgs[0] if self.gateway_orgs else "gateway")
        return home / "gateways" / name
