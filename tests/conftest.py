"""Shared fixtures. Broker tests talk to the real Kafka broker over loopback.

The test command (scripts/test.sh) starts the broker before pytest and stops it after; when a
developer runs pytest directly, the session fixture starts it (and leaves it running for speed;
`docbus broker stop` with the same DOCBUS_HOME stops it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from infra.broker import Cluster
from infra.pki.authority import Authority
from infra.security import ADMIN, issue_service_identities, secure_cluster
from infra.settings import InfraConfig
from schemas.connection import KafkaConnection, tls_paths
from tests.workers import DEFAULTS  # importing it moves this worker's ports and folders apart

# Properties are about what code does, not how fast: no per-example time limit (the 2-core test
# machine is shared, and Hypothesis's default 200 ms deadline is a timing assert in disguise).
settings.register_profile("docbus", deadline=None)
settings.load_profile("docbus")

REPO = Path(__file__).resolve().parent.parent
TEST_HOME = Path(os.environ.get("DOCBUS_TEST_HOME", str(REPO / ".docbus-test")))
#: the PKI whose TLS certificates the test brokers trust (documents are signed by each test's own)
TEST_PKI = TEST_HOME / "pki"
TEST_PKI_PASSPHRASE = b"docbus-test"


def ensure_test_pki() -> Path:
    """The test brokers' PKI: a CA and the TLS identities of the broker and the services."""
    if not (TEST_PKI / "tls" / ADMIN / "cert.pem").exists():
        issue_service_identities(Authority.init(TEST_PKI, TEST_PKI_PASSPHRASE))
    return TEST_PKI


def test_settings() -> InfraConfig:
    """The test broker lives apart from the demo's (own folder, own ports)."""
    return InfraConfig(
        home=TEST_HOME,
        pki_dir=TEST_PKI,
        broker_port=int(os.environ.get("DOCBUS_TEST_BROKER_PORT", DEFAULTS["DOCBUS_TEST_BROKER_PORT"])),
        cluster_port=int(os.environ.get("DOCBUS_TEST_CLUSTER_PORT", DEFAULTS["DOCBUS_TEST_CLUSTER_PORT"])),
    )


#: modules that use the 3-node cluster: one worker runs them all, so only one cluster starts
CLUSTER_MODULES = ("tests/faults/", "tests/infra/test_cluster.py")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under xdist, a module's tests stay on one worker (they share its module fixtures: a PKI, a
    bus), and the cluster modules all on one. A scheduler of our own: xdist's ``loadgroup`` marks
    no longer group anything with pytest 9.2 (xdist 3.8 appends the group to ``item._nodeid``, which pytest no
    longer reads), so every test became a unit of its own and both workers started a cluster."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "cluster" if path.startswith(CLUSTER_MODULES) else path

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The cluster modules first: the longest unit starts at once instead of last."""
    items.sort(key=lambda item: not item.nodeid.startswith(CLUSTER_MODULES))


@pytest.fixture(scope="session")
def kafka() -> Iterator[Cluster]:
    """The single-node test broker (secured: mTLS on every listener, ACLs enforced), running."""
    cluster = secure_cluster(ensure_test_pki(), 1, test_settings())
    cluster.start()
    yield cluster


def harness_connection(cluster: Cluster) -> KafkaConnection:
    """How the test harness reaches ``cluster``: as the operator (a super user), which sets up
    topics and stands in for every role; tests about access use the real principals."""
    return KafkaConnection(bootstrap=cluster.bootstrap, tls=tls_paths(TEST_PKI, ADMIN))


@pytest.fixture(scope="session")
def kafka_conn(kafka: Cluster) -> KafkaConnection:
    """The test broker as the harness reaches it."""
    return harness_connection(kafka)


def unique_names() -> Callable[[str], str]:
    """A namer: its ("inbox") -> "t.inbox.3f2a9c1b", topic / group names no other test uses."""
    tag = uuid.uuid4().hex[:8]
    return lambda name: f"t.{name}.{tag}"


@pytest.fixture
def unique() -> Callable[[str], str]:
    """unique("inbox") -> "t.inbox.3f2a9c1b": topic / group names no other test uses."""
    return unique_names()


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[Cluster]:
    """The 3-node KRaft cluster (RF 3, min ISR 2, no unclean election), stopped after the session."""
    cluster = secure_cluster(ensure_test_pki(), 3, test_settings())
    cluster.start()
    yield cluster
    cluster.stop()
