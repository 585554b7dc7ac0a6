"""A separate secured single-node broker for the access-control tests (the deployment's shape, with a
fresh ACL set nobody else touches): its own DOCBUS_HOME and ports (client 29300, controller 29301,
inter-broker 29350), a fresh PKI with TLS identities for two orgs and every service principal, the
bus topics and the ACLs. Stopped at the end of the session."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra import acls, topics
from infra.broker import Cluster, cluster_for
from infra.pki.authority import Authority
from infra.pki.tls import TlsFiles, issue_tls
from infra.security import ADMIN, AUDIT_WRITER, PROCESSOR, issue_service_identities, secure_cluster
from infra.settings import InfraConfig
from schemas.connection import KafkaConnection
from tests.conftest import TEST_HOME

ORG_A = "G03.15"
ORG_B = "G03.16"
PASSPHRASE = b"security-tests"


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


def secured_settings(home: Path) -> InfraConfig:
    return InfraConfig(
        home=home,
        broker_port=int(os.environ.get("DOCBUS_TEST_SECURE_PORT", "29300")),
        cluster_port=int(os.environ.get("DOCBUS_TEST_SECURE_CLUSTER_PORT", "29400")),
    )


@pytest.fixture(scope="session")
def secured() -> Iterator[Secured]:
    home = TEST_HOME / "security"
    pki = home / "pki"
    # a broker left by an interrupted session still trusts the old PKI: stop it by its pid file
    cluster_for(1, secured_settings(home)).stop()
    shutil.rmtree(home, ignore_errors=True)
    authority = Authority.init(pki, PASSPHRASE)
    tls = issue_service_identities(authority)
    tls |= {code: issue_tls(authority, code) for code in (ORG_A, ORG_B)}
    cluster = secure_cluster(pki, 1, secured_settings(home))
    cluster.start()
    world = Secured(cluster, pki, home, tls)
    try:
        admin = world.connection(ADMIN)
        specs = [*topics.load_specs(), *topics.org_specs(ORG_A), *topics.org_specs(ORG_B)]
        asyncio.run(topics.apply(admin, specs))
        wanted = acls.desired_acls([ORG_A, ORG_B], acls.load_policy())
        asyncio.run(acls.apply_acls(admin, wanted))
        yield world
    finally:
        cluster.stop()
        # Collect the refused clients' leftovers now. Left to a later automatic collection, they
        # were finalised in the middle of pytest rewriting a late import (hypothesis, at the
        # terminal summary), and CPython 3.11.7 then failed that ast.parse with "AST constructor
        # recursion depth mismatch" (4 of 8 runs without this line, 0 of 6 with it).
        gc.collect()


__all__ = ["ADMIN", "AUDIT_WRITER", "ORG_A", "ORG_B", "PASSPHRASE", "PROCESSOR", "Secured", "client_security"]
