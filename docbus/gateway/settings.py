"""Settings of ``docbus gateway`` (``DOCBUS_GATEWAY_*``), beside the node's ``DOCBUS_*`` (home,
bootstrap, PKI folder) of consumers/bus/config.py; to be folded into the one settings model."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GatewaySettings"]

MiB = 1024 * 1024


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCBUS_GATEWAY_", extra="ignore")

    #: the address to listen on: loopback unless a TLS-terminating proxy stands in front
    host: str = "127.0.0.1"
    #: the port (0: any free port, printed at start)
    port: int = Field(default=8480, ge=0, le=65535)
    #: org codes this gateway serves (each needs its seal, and an official to sign documents)
    orgs: list[str] = Field(default_factory=list)
    #: the gateway's state folder name under <home>/gateways (default: the first org)
    name: str = ""
    #: the official whose key signs submitted documents ("*": the first one in the PKI folder)
    official: str = "*"
    #: the whole request body at most; an edXML package at most 4 MiB, an envelope at most 1 MiB
    max_request_bytes: int = Field(default=6 * MiB, ge=1024)
    #: lifetime of an access token in seconds
    token_ttl: float = Field(default=3600.0, gt=0)
    #: the longest ``wait`` a request may ask for, in seconds
    max_wait: float = Field(default=60.0, ge=0)
    #: seconds between directory re-reads (the address book)
    directory_refresh: float = Field(default=60.0, gt=0)

    def folder(self, home: Path) -> Path:
        return home / "gateways" / (self.name or (self.orgs[0] if self.orgs else "gateway"))
