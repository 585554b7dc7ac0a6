"""Kafka ACLs of the bus (docs/SECURITY.md): who may read and write which topic, declared, planned, applied.

The policy lives in the ``[acls]`` section of infra/topics.toml. Planning is pure (`org_acls`,
`processor_acls`, `plan_acls`); `apply_acls` does the Kafka I/O with aiokafka's CreateAcls /
DescribeAcls protocol structs (aiokafka's admin client has no ACL methods). Version 1 of both is
sent: Kafka 4 removed version 0 (KIP-896) and version 1 is the first with resource pattern types.
Applying twice creates nothing the second time: what the broker already lists is left alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from schemas.connection import KafkaConnection
from schemas.errors import OperationError
from schemas.reasons import Reason

__all__ = [
    "Acl",
    "AclError",
    "AclPlan",
    "AclPolicy",
    "Op",
    "Pattern",
    "Resource",
    "apply_acls",
    "audit_writer_acls",
    "describe_acls",
    "desired_acls",
    "directory_acls",
    "inbox_orgs",
    "load_policy",
    "org_acls",
    "plan_acls",
    "processor_acls",
    "revoke_principal",
]

log = logging.getLogger(__name__)

SPEC_FILE = Path(__file__).resolve().parent / "topics.toml"


# Wire codes of Kafka's ResourceType, PatternType and AclOperation (org.apache.kafka.common.*).
class Resource(IntEnum):
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class Pattern(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Op(IntEnum):
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8
    DESCRIBE_CONFIGS = 10
    IDEMPOTENT_WRITE = 12


_ALLOW = 3
_DENY = 2
_ANY = 1  # ResourceType / PatternType / AclOperation / PermissionType "ANY" in a describe filter
CLUSTER_NAME = "kafka-cluster"


class AclError(OperationError, RuntimeError):
    """The broker refused to list or create ACLs; the message carries its error."""

    REASON = Reason.ADMIN_FAILED


@dataclass(frozen=True, order=True)
class Acl:
    """``principal`` is allowed (or, ``allow=False``, denied) ``op`` on ``resource`` ``name`` (literal
    or prefix), from any host. A DENY wins over every ALLOW (Kafka's rule)."""

    principal: str
    resource: Resource
    name: str
    op: Op
    pattern: Pattern = Pattern.LITERAL
    allow: bool = True

    def __str__(self) -> str:
        star = "*" if self.pattern is Pattern.PREFIXED else ""
        verb = "" if self.allow else "DENY "
        return f"{self.principal} {verb}{self.op.name} {self.resource.name.lower()}:{self.name}{star}"


@dataclass(frozen=True)
class AclPolicy:
    """What an org and the processors may do (topics.toml ``[acls]``)."""

    processor: str = "User:docbus-processor"
    audit_writer: str = "User:docbus-audit"
    directory: str = "User:docbus-directory"
    #: written by the audit writer only: the chain and its checkpoints (the processors are denied)
    audit_topics: tuple[str, ...] = ("docbus.audit", "docbus.checkpoints")
    audit_events: str = "docbus.audit.events"
    audit_group_prefix: str = "docbus-audit-writer"
    directory_topic: str = "docbus.directory"
    org_write: tuple[str, ...] = ("docbus.ingress", "docbus.receipts", "docbus.blobs")
    org_read: tuple[str, ...] = ("docbus.directory", "docbus.blobs")
    inbox_prefix: str = "docbus.inbox."
    inbox_group_prefix: str = "docbus-inbox-"
    status_prefix: str = "docbus.status."
    processor_topic_prefix: str = "docbus"
    processor_group_prefix: str = "docbus"


@dataclass
class AclPlan:
    create: list[Acl] = field(default_factory=list)
    ok: list[Acl] = field(default_factory=list)


def load_policy(path: Path = SPEC_FILE) -> AclPolicy:
    with path.open("rb") as f:
        raw: Mapping[str, object] = tomllib.load(f).get("acls", {})
    base = AclPolicy()
    return AclPolicy(
        processor=str(raw.get("processor", base.processor)),
        audit_writer=str(raw.get("audit_writer", base.audit_writer)),
        directory=str(raw.get("directory", base.directory)),
        audit_topics=tuple(raw.get("audit_topics", base.audit_topics)),  # type: ignore[arg-type]
        audit_events=str(raw.get("audit_events", base.audit_events)),
        audit_group_prefix=str(raw.get("audit_group_prefix", base.audit_group_prefix)),
        directory_topic=str(raw.get("directory_topic", base.directory_topic)),
        org_write=tuple(raw.get("org_write", base.org_write)),  # type: ignore[arg-type]
        org_read=tuple(raw.get("org_read", base.org_read)),  # type: ignore[arg-type]
        inbox_prefix=str(raw.get("inbox_prefix", base.inbox_prefix)),
        inbox_group_prefix=str(raw.get("inbox_group_prefix", base.inbox_group_prefix)),
        status_prefix=str(raw.get("status_prefix", base.status_prefix)),
        processor_topic_prefix=str(raw.get("processor_topic_prefix", base.processor_topic_prefix)),
        processor_group_prefix=str(raw.get("processor_group_prefix", base.processor_group_prefix)),
    )


def org_acls(code: str, policy: AclPolicy) -> list[Acl]:
    """An org writes ingress and receipts, reads the public directory, its own inbox and its own
    documents' status topic only.

    Idempotent producers need no cluster IdempotentWrite since Kafka 3.0 (KIP-679): WRITE on a
    topic suffices, so an org gets nothing on the cluster."""
    who = f"User:{code}"
    out: list[Acl] = []
    for topic in policy.org_write:
        out += [Acl(who, Resource.TOPIC, topic, Op.WRITE), Acl(who, Resource.TOPIC, topic, Op.DESCRIBE)]
    for topic in (*policy.org_read, f"{policy.inbox_prefix}{code}", f"{policy.status_prefix}{code}"):
        out += [Acl(who, Resource.TOPIC, topic, Op.READ), Acl(who, Resource.TOPIC, topic, Op.DESCRIBE)]
    group = f"{policy.inbox_group_prefix}{code}"
    out += [Acl(who, Resource.GROUP, group, Op.READ), Acl(who, Resource.GROUP, group, Op.DESCRIBE)]
    return list(dict.fromkeys(out))  # a topic both written and read (docbus.blobs) is described once


def processor_acls(policy: AclPolicy, audit_topics: Iterable[str] = ()) -> list[Acl]:
    """The processors own every ``docbus*`` topic and group (faust's changelogs and leader topic
    included, which it creates itself) and may read topic configs, but never write the audit chain
    or its checkpoints (an explicit DENY: only the audit writer appends there)."""
    who = policy.processor
    denied = [
        Acl(who, Resource.TOPIC, t, Op.WRITE, allow=False) for t in (*policy.audit_topics, *audit_topics)
    ]
    return [
        Acl(who, Resource.TOPIC, policy.processor_topic_prefix, Op.ALL, Pattern.PREFIXED),
        Acl(who, Resource.GROUP, policy.processor_group_prefix, Op.ALL, Pattern.PREFIXED),
        Acl(who, Resource.CLUSTER, CLUSTER_NAME, Op.DESCRIBE_CONFIGS),
        Acl(who, Resource.CLUSTER, CLUSTER_NAME, Op.IDEMPOTENT_WRITE),
        *denied,
    ]


def audit_writer_acls(policy: AclPolicy, audit_topics: Iterable[str] = ()) -> list[Acl]:
    """The single writer reads the processors' drafts and appends to the chain and checkpoints."""
    who = policy.audit_writer
    out = [
        Acl(who, Resource.TOPIC, policy.audit_events, Op.READ),
        Acl(who, Resource.TOPIC, policy.audit_events, Op.DESCRIBE),
        Acl(who, Resource.GROUP, policy.audit_group_prefix, Op.READ, Pattern.PREFIXED),
        Acl(who, Resource.GROUP, policy.audit_group_prefix, Op.DESCRIBE, Pattern.PREFIXED),
    ]
    for topic in (*policy.audit_topics, *audit_topics):
        out += [Acl(who, Resource.TOPIC, topic, op) for op in (Op.READ, Op.WRITE, Op.DESCRIBE)]
    return out


def directory_acls(policy: AclPolicy) -> list[Acl]:
    """The directory authority's publisher writes the signed entries."""
    who, topic = policy.directory, policy.directory_topic
    return [Acl(who, Resource.TOPIC, topic, op) for op in (Op.READ, Op.WRITE, Op.DESCRIBE)]


def desired_acls(orgs: Iterable[str], policy: AclPolicy, audit_topics: Iterable[str] = ()) -> list[Acl]:
    """Every ACL of the exchange; ``audit_topics``: a second audit chain's topics (the demo's)."""
    extra = list(audit_topics)
    out = processor_acls(policy, extra) + audit_writer_acls(policy, extra) + directory_acls(policy)
    for code in sorted(set(orgs)):
        out += org_acls(code, policy)
    return out


def plan_acls(desired: Iterable[Acl], existing: Iterable[Acl]) -> AclPlan:
    have = set(existing)
    out = AclPlan()
    for acl in dict.fromkeys(desired):  # de-duplicated, order kept
        (out.ok if acl in have else out.create).append(acl)
    return out


# ---- Kafka I/O ---------------------------------------------------------------------------------

ACL_WAIT_S = 180.0
"""How long `apply_acls` waits for every broker to enforce a change. The demo's sector (371 orgs,
about 5,600 ACLs) was created and listed by a 1-node broker in 19 s on a 2-core machine at load
average 25, and took more than 30 s in a demo run under heavier load."""



async def describe_acls(admin: object, node_id: int | None = None) -> set[Acl]:
    """Every ALLOW ACL from any host that a broker lists and this module can express.

    A broker answers from its own authorizer, so what it lists is what it enforces."""
    from aiokafka.protocol.admin import DescribeAclsRequest

    request = DescribeAclsRequest(_ANY, None, _ANY, None, None, _ANY, _ANY)  # type: ignore[arg-type,unused-ignore]
    if node_id is None:
        resp = await admin._send_to_controller(request)  # type: ignore[attr-defined]
    else:
        resp = await admin._send_request_to_node(node_id, request)  # type: ignore[attr-defined]
    if resp.error_code:
        raise AclError(f"DescribeAcls failed: error {resp.error_code} {resp.error_message}")
    out: set[Acl] = set()
    for rtype, name, ptype, entries in resp.resources:
        for principal, host, op, permission in entries:
            try:
                acl = Acl(principal, Resource(rtype), name, Op(op), Pattern(ptype))
            except ValueError:
                continue  # an operation or resource docbus never grants: not ours to manage
            if host == "*" and permission in (_ALLOW, _DENY):
                out.add(acl if permission == _ALLOW else dataclasses.replace(acl, allow=False))
    return out


async def apply_acls(
    kafka: KafkaConnection,
    acls: Iterable[Acl],
    *,
    timeout: float = ACL_WAIT_S,
) -> AclPlan:
    """Create the ACLs the broker does not list yet, and return once every broker enforces them.
    Running it twice creates nothing the second time."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        result = plan_acls(acls, await describe_acls(admin))
        if result.create:
            resp = await admin._send_to_controller(_create_request(result.create))
            answers = zip(result.create, resp.creation_responses, strict=True)
            failed = [(a, e, m) for a, (e, m) in answers if e]
            if failed:
                raise AclError("; ".join(f"{a}: error {e} {m}" for a, e, m in failed))
            log.info("created %d ACLs", len(result.create))
            await _wait_enforced(admin, result.create, timeout)
        return result
    finally:
        await admin.close()


async def inbox_orgs(kafka: KafkaConnection, policy: AclPolicy) -> list[str]:
    """The org codes that have an inbox topic on the cluster (the orgs to grant by default)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        names = await admin.list_topics()
    finally:
        await admin.close()
    return sorted(n.removeprefix(policy.inbox_prefix) for n in names if n.startswith(policy.inbox_prefix))


async def revoke_principal(
    kafka: KafkaConnection,
    principal: str,
    *,
    timeout: float = ACL_WAIT_S,
) -> int:
    """Delete every ACL of ``principal`` (e.g. ``User:G03.15``): the org is shut out at once, even
    on connections it already holds. Returns how many ACLs were deleted; 0 when it had none."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.protocol.admin import DeleteAclsRequest

    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        request = DeleteAclsRequest(_ANY, None, _ANY, principal, None, _ANY, _ANY)  # type: ignore[arg-type,unused-ignore]
        resp = await admin._send_to_controller(request)
        deleted = 0
        for error, message, matching in resp.filter_responses:
            if error:
                raise AclError(f"DeleteAcls for {principal} failed: error {error} {message}")
            deleted += len(matching)
        await _wait_until(admin, lambda listed: not any(a.principal == principal for a in listed), timeout)
        return deleted
    finally:
        await admin.close()


async def _wait_enforced(admin: object, acls: list[Acl], timeout: float) -> None:
    """The controller commits ACLs to the metadata log; each broker applies them a moment later.
    Wait for that, so a client started right after `apply_acls` is not refused."""
    wanted = set(acls)
    await _wait_until(admin, wanted.issubset, timeout)


async def _wait_until(admin: object, ready: Callable[[set[Acl]], bool], timeout: float) -> None:
    """Poll each broker until ``ready`` holds for what it lists. The pause between polls grows
    (0.1 s to 2 s): a deployment's few thousand ACLs make each listing a large answer, and asking
    for it ten times a second slows the very broker that is applying them."""
    nodes = [b.nodeId for b in admin._client.cluster.brokers()]  # type: ignore[attr-defined]
    deadline = asyncio.get_running_loop().time() + timeout
    for node in nodes:
        pause = 0.1
        while not ready(await describe_acls(admin, node)):
            if asyncio.get_running_loop().time() > deadline:
                raise AclError(f"broker {node} does not list the ACL change after {timeout:.0f}s")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


def _create_request(acls: list[Acl]) -> object:
    from aiokafka.protocol.admin import CreateAclsRequest_v1
    from aiokafka.protocol.api import Request

    class CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc,unused-ignore]
        """Many creations in one request (aiokafka's CreateAclsRequest carries one)."""

        API_KEY = 30

        def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
            rows = [
                (a.resource, a.name, a.pattern, a.principal, "*", a.op, _ALLOW if a.allow else _DENY)
                for a in acls
            ]
            return request_struct_class(rows)

    return CreateAcls()
