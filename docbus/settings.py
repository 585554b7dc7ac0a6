"""The one settings model of docbus: every command builds it once from the environment (``DOCBUS_*``).

Each role's plain config object is a base of `Settings` (fields declared once, there): the bus's
(consumers/bus/config.py), the audit trail's (consumers/audit/config.py), the broker's
(infra/settings.py), the gateway's (docbus/gateway/settings.py), the state folders shared by all
(schemas/connection.py). A command hands
``settings`` itself where a role's config is wanted, and `Settings.connection` where a Kafka
client is: the bootstrap servers plus the TLS identity the command presents.

TLS identities live in the PKI folder (``<pki>/tls/<name>/``, written by ``docbus pki issue-tls``);
each command has its own default principal (an org code for send/inbox/receipt,
``docbus-processor`` for ``bus run``, ``docbus-audit`` for the audit writer, ``docbus-admin`` for
the operator's commands). ``DOCBUS_TLS_IDENTITY`` names another one; ``DOCBUS_TLS_CERT``/``_KEY``/
``_CA`` point at files outside the PKI folder.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from consumers.audit.config import AuditConfig
from consumers.bus.config import BusConfig
from docbus.gateway.settings import GatewayConfig
from infra.security import ADMIN, AUDIT_WRITER, DIRECTORY, PROCESSOR
from infra.settings import InfraConfig
from schemas.connection import KafkaConnection, TlsPaths, tls_paths

__all__ = ["ADMIN", "AUDIT_WRITER", "DIRECTORY", "PROCESSOR", "Settings", "connection_env"]


class Settings(BusConfig, AuditConfig, InfraConfig, GatewayConfig, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCBUS_", extra="ignore")

    #: Kafka bootstrap servers, host:port[,host:port]
    bootstrap: str = "127.0.0.1:19092"
    #: PLAINTEXT instead of mTLS, no ACLs (a broker started with it too); warned about every time
    insecure: bool = False
    #: the TLS identity under <pki>/tls/ to present instead of the command's own default
    tls_identity: str | None = None
    #: explicit TLS files (all three), instead of an identity in the PKI folder
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None

    def tls(self, identity: str) -> TlsPaths | None:
        """The TLS files a client of ``identity`` presents; None in the unsecured mode."""
        if self.insecure:
            return None
        if self.tls_cert is not None and self.tls_key is not None:
            ca = self.tls_ca if self.tls_ca is not None else self.pki / "ca/root.pem"
            return TlsPaths(cert=self.tls_cert, key=self.tls_key, ca=ca)
        return tls_paths(self.pki, self.tls_identity or identity)

    def connection(self, identity: str) -> KafkaConnection:
        """The cluster as ``identity`` (the command's default principal) reaches it. A TLS file that
        is not there is named (ssl's own error names none: "No such file or directory")."""
        tls = self.tls(identity)
        for path in () if tls is None else (tls.cert, tls.key, tls.ca):
            if not path.is_file():
                where = "DOCBUS_PKI_DIR or DOCBUS_HOME, or DOCBUS_TLS_CERT, _KEY and _CA"
                who = self.tls_identity or identity
                raise FileNotFoundError(errno.ENOENT, f"no TLS file for {who} (set {where})", str(path))
        return KafkaConnection(bootstrap=self.bootstrap, tls=tls)

    def warn_if_insecure(self) -> None:
        if self.insecure:
            print(
                "warning: DOCBUS_INSECURE is set: PLAINTEXT to Kafka, no client certificate, "
                "no ACLs (anyone on the network reads and writes every topic)",
                file=sys.stderr,
            )


def connection_env(kafka: KafkaConnection) -> dict[str, str]:
    """The ``DOCBUS_*`` variables that make a command reach the cluster as ``kafka`` does."""
    env = {"DOCBUS_BOOTSTRAP": kafka.bootstrap, "DOCBUS_INSECURE": "0" if kafka.secured else "1"}
    if kafka.tls is not None:
        env |= {
            "DOCBUS_TLS_CERT": str(kafka.tls.cert),
            "DOCBUS_TLS_KEY": str(kafka.tls.key),
            "DOCBUS_TLS_CA": str(kafka.tls.ca),
        }
    return env
