"""Declarative topic specs (infra/topics.toml) and their idempotent application to a cluster.

Planning is pure (`plan`): given the specs, the cluster size and what exists, it says what to
create and where the cluster drifted from the spec. `apply` does the Kafka I/O.
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from schemas.connection import KafkaConnection

__all__ = [
    "Drift", "Plan", "TopicSpec", "apply", "inbox_spec", "load_specs", "org_specs", "plan", "status_spec",
]  # fmt: skip

log = logging.getLogger(__name__)

SPEC_FILE = Path(__file__).resolve().parent / "topics.toml"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    cleanup: str = "delete"
    retention_ms: int | None = None
    min_insync: int = 1
    max_message_bytes: int | None = None
    segment_ms: int | None = None
    segment_bytes: int | None = None
    #: message.timestamp.type: LogAppendTime makes the broker stamp each record (docbus.directory)
    timestamp_type: str | None = None

    def capped(self, brokers: int) -> TopicSpec:
        rf = min(self.replication, brokers)
        return TopicSpec(
            self.name, self.partitions, rf, self.cleanup, self.retention_ms,
            min(self.min_insync, rf), self.max_message_bytes, self.segment_ms, self.segment_bytes,
            self.timestamp_type,
        )  # fmt: skip

    def configs(self) -> dict[str, str]:
        out = {"cleanup.policy": self.cleanup, "min.insync.replicas": str(self.min_insync)}
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        if self.max_message_bytes is not None:
            out["max.message.bytes"] = str(self.max_message_bytes)
        if self.segment_ms is not None:
            out["segment.ms"] = str(self.segment_ms)
        if self.segment_bytes is not None:
            out["segment.bytes"] = str(self.segment_bytes)
        if self.timestamp_type is not None:
            out["message.timestamp.type"] = self.timestamp_type
        return out


@dataclass(frozen=True)
class Existing:
    partitions: int
    replication: int
    configs: Mapping[str, str]


@dataclass(frozen=True)
class Drift:
    topic: str
    what: str
    want: str
    have: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.what} is {self.have}, spec says {self.want}"


@dataclass
class Plan:
    create: list[TopicSpec] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _spec(raw: Mapping[str, object], defaults: Mapping[str, object]) -> TopicSpec:
    merged = {**defaults, **raw}
    return TopicSpec(
        name=str(merged["name"]),
        partitions=int(merged.get("partitions", 1)),  # type: ignore[call-overload]
        replication=int(merged.get("replication", 1)),  # type: ignore[call-overload]
        cleanup=str(merged.get("cleanup", "delete")),
        retention_ms=int(merged["retention_ms"]) if "retention_ms" in merged else None,  # type: ignore[call-overload]
        min_insync=int(merged.get("min_insync", 1)),  # type: ignore[call-overload]
        max_message_bytes=int(merged["max_message_bytes"]) if "max_message_bytes" in merged else None,  # type: ignore[call-overload]
        segment_ms=int(merged["segment_ms"]) if "segment_ms" in merged else None,  # type: ignore[call-overload]
        segment_bytes=int(merged["segment_bytes"]) if "segment_bytes" in merged else None,  # type: ignore[call-overload]
        timestamp_type=str(merged["timestamp_type"]) if "timestamp_type" in merged else None,
    )


def _load(path: Path) -> dict[str, object]:
    with path.open("rb") as f:
        return tomllib.load(f)


def load_specs(path: Path = SPEC_FILE) -> list[TopicSpec]:
    doc = _load(path)
    defaults = dict(doc.get("defaults", {}))  # type: ignore[call-overload]
    return [_spec(t, defaults) for t in doc.get("topic", [])]  # type: ignore[attr-defined]


def inbox_spec(org_code: str, path: Path = SPEC_FILE) -> TopicSpec:
    """The spec of one org's inbox topic, from the [inbox] template."""
    doc = _load(path)
    defaults = dict(doc.get("defaults", {}))  # type: ignore[call-overload]
    return _spec({**doc.get("inbox", {}), "name": f"docbus.inbox.{org_code}"}, defaults)  # type: ignore[dict-item]


def status_spec(org_code: str, path: Path = SPEC_FILE) -> TopicSpec:
    """The spec of one org's status topic (docbus.status.<org>: its documents' status records),
    from the [sender_status] template."""
    doc = _load(path)
    defaults = dict(doc.get("defaults", {}))  # type: ignore[call-overload]
    return _spec({**doc.get("sender_status", {}), "name": f"docbus.status.{org_code}"}, defaults)  # type: ignore[dict-item]


def org_specs(org_code: str, path: Path = SPEC_FILE) -> list[TopicSpec]:
    """The topics every active org has: its inbox and its status topic."""
    return [inbox_spec(org_code, path), status_spec(org_code, path)]


def plan(specs: Iterable[TopicSpec], brokers: int, existing: Mapping[str, Existing]) -> Plan:
    out = Plan()
    capped: list[str] = []
    for spec in specs:
        if spec.replication > brokers:
            capped.append(spec.name)
        want = spec.capped(brokers)
        have = existing.get(want.name)
        if have is None:
            out.create.append(want)
            continue
        before = len(out.drift)
        if have.partitions != want.partitions:
            out.drift.append(Drift(want.name, "partitions", str(want.partitions), str(have.partitions)))
        if have.replication != want.replication:
            out.drift.append(Drift(want.name, "replication", str(want.replication), str(have.replication)))
        for key, value in want.configs().items():
            if have.configs.get(key) != value:
                out.drift.append(Drift(want.name, key, value, str(have.configs.get(key))))
        if len(out.drift) == before:
            out.ok.append(want.name)
    if capped:
        out.warnings.append(
            f"replication capped to {brokers} on {len(capped)} topic(s): the cluster has {brokers} "
            f"broker{'s' if brokers != 1 else ''} (fine for a demo, not for production)"
        )
    return out


async def describe(admin: object, names: list[str]) -> dict[str, Existing]:
    """What of ``names`` exists on the cluster, with partitions, replication and configs."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    listed = set(await admin.list_topics())  # type: ignore[attr-defined]
    present = [n for n in names if n in listed]
    if not present:
        return {}
    meta = await admin.describe_topics(present)  # type: ignore[attr-defined]
    cfg_resp = await admin.describe_configs(  # type: ignore[attr-defined]
        [ConfigResource(ConfigResourceType.TOPIC, n) for n in present]
    )
    configs: dict[str, dict[str, str]] = {}
    for resp in cfg_resp:
        for res in resp.resources:
            # (error_code, error_message, resource_type, resource_name, config_entries)
            configs[res[3]] = {entry[0]: entry[1] for entry in res[4]}
    out: dict[str, Existing] = {}
    for t in meta:
        parts = t["partitions"]
        rf = len(parts[0]["replicas"]) if parts else 0
        out[t["topic"]] = Existing(len(parts), rf, configs.get(t["topic"], {}))
    return out


async def apply(
    kafka: KafkaConnection, specs: list[TopicSpec]
) -> Plan:
    """Create what is missing; report drift. Running it twice creates nothing the second time."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        existing = await describe(admin, [s.name for s in specs])
        result = plan(specs, brokers, existing)
        if result.create:
            await admin.create_topics(
                [
                    NewTopic(s.name, s.partitions, s.replication, topic_configs=s.configs())
                    for s in result.create
                ]
            )
        return result
    finally:
        await admin.close()
