"""Where docbus keeps local state and how the local broker is shaped. Environment: DOCBUS_*."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["InfraSettings", "settings"]


class InfraSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCBUS_")

    #: state folder: broker data, logs, pid files, PKI, inbox stores (git-ignored)
    home: Path = Path(".docbus")
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


def settings() -> InfraSettings:
    return InfraSettings()
