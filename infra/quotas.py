"""Per-principal client quotas (Kafka's own, KIP-546): one org cannot starve the others.

Every org principal gets the ``[quotas.org]`` of infra/topics.toml as the *default user* quota
(Kafka applies it to each ``User:<name>`` separately, so a flooding org is throttled alone: the
broker delays its responses, the others' requests are served meanwhile). The service principals
(processors, audit writer, directory authority, operator) get ``[quotas.service]``: they carry
everyone's traffic and must not be throttled at an org's rate. Applied by
`docbus topics apply --acls` (or ``--quotas``) with AlterClientQuotas, listed with
DescribeClientQuotas; applying twice changes nothing.

aiokafka's protocol module has DescribeClientQuotas but not AlterClientQuotas; the request
struct below is version 0 of Kafka's schema (AlterClientQuotasRequest.json), which Kafka 4.1
still accepts.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.connection import KafkaConnection
from schemas.errors import OperationError
from schemas.reasons import Reason

__all__ = ["Quota", "QuotaError", "apply_quotas", "describe_quotas", "desired_quotas", "load_quotas"]

SPEC_FILE = Path(__file__).resolve().parent / "topics.toml"
#: the keys docbus sets (Kafka's names); values are bytes/s, or % of one request-handler thread
KEYS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")
_DEFAULT, _SPECIFIED = 1, 2  # DescribeClientQuotas match types: the default entity, any named one


class QuotaError(OperationError, RuntimeError):
    """The broker refused to list or alter client quotas; the message carries its error."""

    REASON = Reason.ADMIN_FAILED


@dataclass(frozen=True)
class Quota:
    """``user`` None is the default user quota: every principal without a quota of its own."""

    user: str | None
    values: tuple[tuple[str, float], ...]

    def __str__(self) -> str:
        who = "every org (default user)" if self.user is None else f"User:{self.user}"
        return who + ": " + ", ".join(f"{k}={v:g}" for k, v in self.values)


def load_quotas(path: Path = SPEC_FILE) -> dict[str, dict[str, float]]:
    with path.open("rb") as f:
        raw: Mapping[str, Any] = tomllib.load(f).get("quotas", {})
    return {role: {k: float(v) for k, v in values.items() if k in KEYS} for role, values in raw.items()}


def desired_quotas(
    services: Iterable[str], spec: Mapping[str, Mapping[str, float]] | None = None
) -> list[Quota]:
    spec = spec if spec is not None else load_quotas()
    org = tuple(sorted(spec.get("org", {}).items()))
    service = tuple(sorted(spec.get("service", {}).items()))
    return [Quota(None, org), *(Quota(name, service) for name in services)]


async def describe_quotas(kafka: KafkaConnection) -> set[Quota]:
    """Every user quota the cluster holds (the default user's included)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.protocol.admin import DescribeClientQuotasRequest

    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    out = set()
    try:
        for match_type in (_DEFAULT, _SPECIFIED):
            request = DescribeClientQuotasRequest([("user", match_type, None)], False)  # type: ignore[list-item,unused-ignore]
            resp = await admin._send_to_controller(request)
            if resp.error_code:
                raise QuotaError(f"DescribeClientQuotas failed: error {resp.error_code} {resp.error_message}")
            for entity, values in resp.entries or ():
                users = [name for kind, name in entity if kind == "user"]
                if len(users) == len(entity) == 1:
                    mine = tuple(sorted((k, float(v)) for k, v in values if k in KEYS))
                    out.add(Quota(users[0] or None, mine))
    finally:
        await admin.close()
    return out


async def apply_quotas(kafka: KafkaConnection, quotas: Iterable[Quota]) -> list[Quota]:
    """Set the quotas the cluster does not hold yet; returns those it changed."""
    from aiokafka.admin import AIOKafkaAdminClient

    have = await describe_quotas(kafka)
    changed = [q for q in dict.fromkeys(quotas) if q not in have]
    if not changed:
        return []
    admin = AIOKafkaAdminClient(**kafka.client_kwargs())
    await admin.start()
    try:
        resp = await admin._send_to_controller(_alter_request(changed))
    finally:
        await admin.close()
    failed = [(e, m) for e, m, _ in resp.entries if e]
    if failed:
        raise QuotaError("; ".join(f"error {e} {m}" for e, m in failed))
    return changed


def _alter_request(quotas: list[Quota]) -> object:
    from aiokafka.protocol.api import Request, RequestStruct, Response
    from aiokafka.protocol.types import Array, Boolean, Float64, Int16, Int32, Schema, String

    class AlterClientQuotasResponse_v0(Response):  # type: ignore[misc,unused-ignore]
        API_KEY = 49
        API_VERSION = 0
        SCHEMA = Schema(
            ("throttle_time_ms", Int32),
            ("entries", Array(
                ("error_code", Int16), ("error_message", String("utf-8")),
                ("entity", Array(("entity_type", String("utf-8")), ("entity_name", String("utf-8")))),
            )),
        )  # fmt: skip

    class AlterClientQuotasRequest_v0(RequestStruct):  # type: ignore[misc,unused-ignore]
        API_KEY = 49
        API_VERSION = 0
        RESPONSE_TYPE = AlterClientQuotasResponse_v0
        SCHEMA = Schema(
            ("entries", Array(
                ("entity", Array(("entity_type", String("utf-8")), ("entity_name", String("utf-8")))),
                ("ops", Array(("key", String("utf-8")), ("value", Float64), ("remove", Boolean))),
            )),
            ("validate_only", Boolean),
        )  # fmt: skip

    class AlterClientQuotas(Request[AlterClientQuotasRequest_v0]):  # type: ignore[misc,unused-ignore]
        API_KEY = 49

        def build(
            self, request_struct_class: type[AlterClientQuotasRequest_v0]
        ) -> AlterClientQuotasRequest_v0:
            rows = [([("user", q.user)], [(k, v, False) for k, v in q.values]) for q in quotas]
            made: AlterClientQuotasRequest_v0 = request_struct_class(rows, False)
            return made

    return AlterClientQuotas()
