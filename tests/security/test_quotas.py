"""Per-principal client quotas, set by `docbus topics apply --acls` on the secured broker."""

from __future__ import annotations

import asyncio

import pytest

from infra import quotas
from infra.security import ADMIN, QUOTA_SERVICES
from tests.security.conftest import ORG_A, ORG_B, Secured
from tests.security.test_apply_cli import apply_cli

pytestmark = pytest.mark.broker


def test_apply_sets_the_org_default_and_the_service_quotas_once(secured: Secured) -> None:
    apply_cli(secured, ORG_A, ORG_B)
    held = asyncio.run(quotas.describe_quotas(secured.connection(ADMIN)))
    wanted = quotas.desired_quotas(QUOTA_SERVICES)
    assert set(wanted) <= held
    default = next(q for q in held if q.user is None)  # what each org principal gets on its own
    assert dict(default.values) == quotas.load_quotas()["org"]
    assert "quotas: 0 set" in apply_cli(secured, ORG_A, ORG_B)  # idempotent
