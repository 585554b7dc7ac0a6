"""Composition of the processors: the PKI folder and infra's topic specs handed to the bus."""

from __future__ import annotations

from consumers.bus.app import Bus
from consumers.bus.app import create_bus as _create_bus
from docbus.pki_folder import TrustFiles
from docbus.settings import PROCESSOR, Settings
from infra.topics import load_specs

__all__ = ["create_bus", "topic_partitions"]


def topic_partitions() -> dict[str, int]:
    """Partition counts of the exchange's fixed topics (infra/topics.toml)."""
    return {spec.name: spec.partitions for spec in load_specs()}


def create_bus(settings: Settings | None = None) -> Bus:
    """The processors as `docbus bus run` starts them, on the processors' own TLS identity."""
    settings = settings or Settings()
    return _create_bus(
        settings,
        settings.connection(PROCESSOR),
        trust=TrustFiles(settings.pki),
        partitions=topic_partitions(),
    )
