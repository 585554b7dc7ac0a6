"""What one demo run is: its size, where its state lives, the broker and the names it uses.

Each run is fresh: a new PKI, a new processor group (so fresh bus tables), new inbox positions and
its own audit log topics — a broker that kept earlier runs' (or other tests') records never mixes
them into this run's counts or into the log `docbus audit verify` walks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from schemas.connection import KafkaConnection, tls_paths

__all__ = ["PASSPHRASE", "DemoConfig"]

#: the demo PKI's key passphrase (a demo secret, printed in the "what next" env on purpose)
PASSPHRASE = "docbus-demo"


@dataclass(frozen=True)
class DemoConfig:
    departments: int = 63
    universities: int = 300
    state: Path = Path(".docbus/demo")
    bootstrap: str = ""  # set once the broker is known
    #: mTLS with each role's own certificate from the demo's PKI (False: the unsecured mode)
    secured: bool = True
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    timeout: float = 150.0  # seconds the whole exchange may take once sent

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    def connection(self, identity: str) -> KafkaConnection:
        """The broker as ``identity`` (an org code, docbus-admin, ...) reaches it."""
        tls = tls_paths(self.pki, identity) if self.secured else None
        return KafkaConnection(bootstrap=self.bootstrap, tls=tls)

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def app_id(self) -> str:
        return f"docbus-demo-{self.run}"

    @property
    def audit_topic(self) -> str:
        return f"docbus.audit.demo-{self.run}"

    @property
    def checkpoint_topic(self) -> str:
        return f"docbus.checkpoints.demo-{self.run}"

    @property
    def audit_group(self) -> str:
        return f"docbus-audit-writer-demo-{self.run}"

    @property
    def summary_file(self) -> Path:
        return self.state / "summary.json"

    def env(self) -> dict[str, str]:
        """The DOCBUS_* environment of the processors, and of the commands run against the demo."""
        return {
            "DOCBUS_HOME": str(self.state),
            "DOCBUS_BOOTSTRAP": self.bootstrap,
            "DOCBUS_INSECURE": "0" if self.secured else "1",
            "DOCBUS_PKI_DIR": str(self.pki),
            "DOCBUS_PKI_PASSPHRASE": PASSPHRASE,
            "DOCBUS_APP_ID": self.app_id,
            "DOCBUS_AUDIT_TOPIC": self.audit_topic,
            "DOCBUS_CHECKPOINT_TOPIC": self.checkpoint_topic,
        }

    def processor_env(self) -> dict[str, str]:
        return {
            **self.env(),
            "DOCBUS_AUDIT_GROUP": self.audit_group,
            "DOCBUS_CHECKPOINT_SECONDS": "1",
            "DOCBUS_SESSION_TIMEOUT": "6",
            "DOCBUS_LOG_LEVEL": "warn",
        }
