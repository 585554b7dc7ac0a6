"""`docbus topics apply --acls` (the typer command itself) against the secured broker."""

from __future__ import annotations

import asyncio

import pytest
import typer
from aiokafka.admin import AIOKafkaAdminClient
from typer.testing import CliRunner

from infra import acls
from infra.cli import topics_app
from infra.security import ADMIN
from tests.security.conftest import ORG_A, ORG_B, Secured

pytestmark = pytest.mark.broker

NEW_ORG = "G03.17"


def apply_cli(world: Secured, *orgs: str) -> str:
    args = [
        "topics", "apply", "--acls",
        "--bootstrap", world.bootstrap, "--tls-dir", str(world.pki), "--tls-name", ADMIN,
        *(arg for code in orgs for arg in ("--org", code)),
    ]  # fmt: skip
    app = typer.Typer()
    app.add_typer(topics_app, name="topics")  # mounted as docbus/cli.py mounts it
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


async def listed(world: Secured) -> set[acls.Acl]:
    admin = AIOKafkaAdminClient(bootstrap_servers=world.bootstrap, **world.security(ADMIN))
    await admin.start()
    try:
        return await acls.describe_acls(admin)
    finally:
        await admin.close()


def test_apply_grants_a_new_org_once_and_then_nothing(secured: Secured) -> None:
    first = apply_cli(secured, ORG_A, ORG_B, NEW_ORG)
    after_first = asyncio.run(listed(secured))
    expected_new = acls.org_acls(NEW_ORG, acls.load_policy())
    assert f"ACLs: {len(expected_new)} created" in first  # only the new org's; A and B were there
    assert set(expected_new) <= after_first

    second = apply_cli(secured, ORG_A, ORG_B, NEW_ORG)
    assert "0 created, 8 unchanged" in second  # the topics
    assert "ACLs: 0 created" in second
    assert asyncio.run(listed(secured)) == after_first


def test_apply_without_orgs_grants_every_org_with_an_inbox(secured: Secured) -> None:
    out = apply_cli(secured)
    assert "ACLs: 0 created" in out  # the fixture granted both inbox owners already
    assert "(2 orgs)" in out  # G03.17 was granted above but has no inbox topic
