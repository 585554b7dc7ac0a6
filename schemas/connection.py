"""How a client reaches the Kafka cluster: bootstrap servers and, on the secured deployment, the
mTLS identity it presents (docs/SECURITY.md). Shared by every floor that opens a Kafka client; the
one settings model (docbus/settings.py) builds it, everything else takes it as an argument.

Also the state folders every process shares (home, PKI folder and its passphrase), declared once
here and composed into each role's config object.

The TLS layout under the PKI folder (infra/pki/tls.py writes it)::

    tls/<name>/cert.pem    leaf + issuing CA
    tls/<name>/key.pem     PKCS#8, unencrypted, mode 0600
    ca/root.pem            the trust anchor both sides verify against
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

__all__ = ["KafkaConnection", "StateFolders", "TlsPaths", "tls_paths"]


class StateFolders(BaseModel):
    """Where a process keeps its state and finds the ministry PKI."""

    #: state folder: broker data, logs, pid files, PKI, inbox stores (git-ignored)
    home: Path = Path(".docbus")
    #: the ministry PKI folder (docs/TRUST.md); default <home>/pki
    pki_dir: Path | None = None
    #: passphrase of the keys in the PKI folder
    pki_passphrase: SecretStr = SecretStr("")

    @property
    def pki(self) -> Path:
        return self.pki_dir if self.pki_dir is not None else self.home / "pki"

    @property
    def passphrase(self) -> bytes:
        return self.pki_passphrase.get_secret_value().encode()


class TlsPaths(BaseModel):
    """One TLS identity on disk: its certificate chain, its key, and the root it trusts."""

    model_config = {"frozen": True}

    cert: Path
    key: Path
    ca: Path


def tls_paths(pki: Path, name: str) -> TlsPaths:
    """The TLS identity ``name`` (an org code, ``docbus-processor``, ...) in the PKI folder."""
    base = Path(pki) / "tls" / name
    return TlsPaths(cert=base / "cert.pem", key=base / "key.pem", ca=Path(pki) / "ca/root.pem")


class KafkaConnection(BaseModel):
    """Bootstrap servers and the TLS identity; no identity means PLAINTEXT (the unsecured mode)."""

    #: Kafka bootstrap servers, host:port[,host:port]
    bootstrap: str = "127.0.0.1:19092"
    #: the client's TLS identity (mTLS); None = PLAINTEXT
    tls: TlsPaths | None = None

    @property
    def secured(self) -> bool:
        return self.tls is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context presenting this identity and trusting only the PKI's root (TLS 1.2+),
        or None on PLAINTEXT. The one place a Kafka client's TLS is configured."""
        if self.tls is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.tls.ca))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(certfile=str(self.tls.cert), keyfile=str(self.tls.key))
        return ctx

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client: producer, consumer, admin, bare client."""
        ctx = self.ssl_context()
        if ctx is None:
            return {"bootstrap_servers": self.bootstrap}
        return {"bootstrap_servers": self.bootstrap, "security_protocol": "SSL", "ssl_context": ctx}

    def as_identity(self, tls: TlsPaths | None) -> KafkaConnection:
        """The same cluster under another identity."""
        return KafkaConnection(bootstrap=self.bootstrap, tls=tls)
