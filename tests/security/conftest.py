"""The access-control tests run on the suite's own secured test broker (the `kafka` session fixture:
mTLS on every listener, the authorizer on): the deployment's topics, ACLs for two orgs and their TLS
logins, issued into the test PKI beside the service logins. The harness elsewhere presents
docbus-admin (a super user), so the ACLs granted here change nothing for other tests."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra import acls, topics
from infra.broker import Cluster
from infra.pki.authority import Authority
from infra.pki.tls import TlsFiles, issue_tls, tls_files
from infra.security import ADMIN, AUDIT_WRITER, PROCESSOR, SERVICES
from schemas.connection import KafkaConnection
from tests.conftest import TEST_HOME, TEST_PKI, TEST_PKI_PASSPHRASE

ORG_A = "G03.15"
ORG_B = "G03.16"
PASSPHRASE = TEST_PKI_PASSPHRASE  # the test PKI's: orgs and certificates issued here go into it


@dataclass(frozen=True)
class Secured:
    cluster: Cluster
    pki: Path
    home: Path
    tls: dict[str, TlsFiles]

    @property
    def bootstrap(self) -> str:
        """The mTLS listener."""
        return self.cluster.bootstrap

    def connection(self, name: str) -> KafkaConnection:
        return KafkaConnection(bootstrap=self.bootstrap, tls=self.tls[name].paths)

    def security(self, name: str) -> dict[str, object]:
        return client_security(self.tls[name])


def client_security(files: TlsFiles) -> dict[str, object]:
    """The TLS keyword arguments of an aiokafka client presenting ``files``."""
    kwargs = KafkaConnection(tls=files.paths).client_kwargs()
    del kwargs["bootstrap_servers"]
    return kwargs


def _login(authority: Authority, name: str) -> TlsFiles:
    files = tls_files(TEST_PKI, name)
    return files if files.cert.exists() else issue_tls(authority, name)  # once per test PKI


@pytest.fixture(scope="session")
def secured(kafka: Cluster) -> Iterator[Secured]:
    authority = Authority(TEST_PKI, PASSPHRASE)
    tls = {name: tls_files(TEST_PKI, name) for name in SERVICES}
    tls |= {code: _login(authority, code) for code in (ORG_A, ORG_B)}
    world = Secured(kafka, TEST_PKI, TEST_HOME, tls)
    try:
        admin = world.connection(ADMIN)
        specs = [*topics.load_specs(), *topics.org_specs(ORG_A), *topics.org_specs(ORG_B)]
        asyncio.run(topics.apply(admin, specs))
        wanted = acls.desired_acls([ORG_A, ORG_B], acls.load_policy())
        asyncio.run(acls.apply_acls(admin, wanted))
        yield world
    finally:
        # Collect the refused clients' leftovers now. Left to a later automatic collection, they
        # were finalised in the middle of pytest rewriting a late import (hypothesis, at the
        # terminal summary), and CPython 3.11.7 then failed that ast.parse with "AST constructor
        # recursion depth mismatch" (4 of 8 runs without this line, 0 of 6 with it).
        gc.collect()


__all__ = ["ADMIN", "AUDIT_WRITER", "ORG_A", "ORG_B", "PASSPHRASE", "PROCESSOR", "Secured", "client_security"]
