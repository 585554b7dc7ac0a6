"""`docbus topics apply --acls` (the typer command itself) against the secured broker."""

from __future__ import annotations

import asyncio
import json

import pytest
import typer
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import TopicAuthorizationFailedError
from typer.testing import CliRunner

from docbus.commands.broker import topics_app
from infra import acls, topics
from infra.pki.authority import Authority
from infra.pki.tls import issue_tls
from infra.security import ADMIN
from tests.security.conftest import ORG_A, ORG_B, PASSPHRASE, Secured, client_security

pytestmark = pytest.mark.broker

NEW_ORG = "G03.17"


def app() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(topics_app, name="topics")  # mounted as docbus/cli.py mounts it
    return root


def cli_args(world: Secured, *args: str) -> list[str]:
    return [*args, "--bootstrap", world.bootstrap, "--tls-dir", str(world.pki), "--tls-name", ADMIN]


def apply_cli(world: Secured, *orgs: str) -> str:
    args = cli_args(world, "topics", "apply", "--acls", *(a for code in orgs for a in ("--org", code)))
    result = CliRunner().invoke(app(), args, env={"COLUMNS": "200"})
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
    # a broker left running by an earlier session may know the new org already
    asyncio.run(acls.revoke_principal(secured.connection(ADMIN), f"User:{NEW_ORG}"))
    first = apply_cli(secured, ORG_A, ORG_B, NEW_ORG)
    after_first = asyncio.run(listed(secured))
    expected_new = acls.org_acls(NEW_ORG, acls.load_policy())
    assert f"ACLs: {len(expected_new)} created" in first  # only the new org's; A and B were there
    assert set(expected_new) <= after_first

    second = apply_cli(secured, ORG_A, ORG_B, NEW_ORG)
    assert f"0 created, {len(topics.load_specs())} unchanged" in second  # the topics
    assert "ACLs: 0 created" in second
    assert asyncio.run(listed(secured)) == after_first


def test_apply_without_orgs_grants_every_org_with_an_inbox(secured: Secured) -> None:
    # the suite's broker holds the inboxes of other tests' worlds too: every one of them is granted
    owners = asyncio.run(acls.inbox_orgs(secured.connection(ADMIN), acls.load_policy()))
    assert {ORG_A, ORG_B} <= set(owners) and NEW_ORG not in owners  # G03.17 was granted, has no inbox
    apply_cli(secured)
    out = apply_cli(secured)
    assert "ACLs: 0 created" in out and f"({len(owners)} orgs)" in out
    wanted = set(acls.desired_acls(owners, acls.load_policy()))
    assert wanted <= asyncio.run(listed(secured))
    # the same, as one JSON document: the topics' plan, the ACLs and the quotas
    done = CliRunner().invoke(app(), cli_args(secured, "topics", "apply", "--acls", "--json"))
    assert done.exit_code == 0, done.output
    shown = json.loads(done.stdout)
    granted = shown["acls"]
    assert granted["created"] == [] and len(granted["orgs"]) == len(owners) and granted["unchanged"] > 0
    assert shown["created"] == [] and len(shown["unchanged"]) >= len(topics.load_specs())
    assert isinstance(shown["quotas"], list)


def test_revoke_shuts_an_org_out_on_its_open_connection(secured: Secured) -> None:
    code = "G03.18"
    files = issue_tls(Authority(secured.pki, PASSPHRASE), code)
    apply_cli(secured, code)

    async def scenario() -> None:
        p = AIOKafkaProducer(
            bootstrap_servers=secured.bootstrap, acks="all", enable_idempotence=True,
            request_timeout_ms=10_000, **client_security(files),
        )  # fmt: skip
        try:
            await p.start()
            await p.send_and_wait("docbus.ingress", b"before", key=code.encode())
            # the command runs its own event loop: give it a thread while this connection stays open
            args = cli_args(secured, "topics", "revoke", code)
            result = await asyncio.to_thread(CliRunner().invoke, app(), args)
            assert result.exit_code == 0, result.output
            granted = len(acls.org_acls(code, acls.load_policy()))
            assert f"User:{code}: {granted} ACL(s) deleted" in result.output
            with pytest.raises(TopicAuthorizationFailedError):
                await p.send_and_wait("docbus.ingress", b"after", key=code.encode())
        finally:
            await p.stop()

    asyncio.run(scenario())
    assert not any(a.principal == f"User:{code}" for a in asyncio.run(listed(secured)))
