"""How the local broker is shaped and where its state lives: a plain object the one settings model
(docbus/settings.py) fills from the environment (``DOCBUS_*``), or a test from arguments."""

from __future__ import annotations

from schemas.connection import StateFolders

__all__ = ["InfraConfig"]


class InfraConfig(StateFolders):
    """Broker data, logs and pid files live under ``home``; the broker's TLS identity and the
    trust anchor under the PKI folder (``pki``)."""

    #: JVM heap per broker node; the broker is bounded so three nodes fit beside the processors
    broker_heap: str = "512m"
    #: single node: client port, controller port = client + 1
    broker_port: int = 19092
    #: 3-node cluster: node i (1..3) listens on cluster_port + i, controller on cluster_port + 100 + i
    cluster_port: int = 19100
    #: how long `broker start` waits for the broker to answer a metadata request
    start_timeout_s: float = 90.0
    #: how long a clean stop may take before the broker is killed
    stop_timeout_s: float = 60.0
