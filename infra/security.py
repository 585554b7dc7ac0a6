"""mTLS to the Kafka broker and its authorizer (docs/SECURITY.md).

A secured broker keeps its loopback PLAINTEXT listener (the operator's door: inter-broker and
controller traffic, `docbus broker` health checks) and adds an SSL listener on ``port + 50`` that
requires a client certificate from the ministry PKI. The certificate's ``CN=<name>`` becomes the
principal ``User:<name>``; Kafka's StandardAuthorizer then allows only what infra/acls.py grants.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from infra.broker import Cluster, cluster_for
from infra.pki.authority import Authority
from infra.pki.tls import TlsFiles, issue_tls, tls_files
from infra.settings import InfraConfig

__all__ = [
    "ADMIN",
    "BROKER",
    "PROCESSOR",
    "SSL_PORT_OFFSET",
    "broker_security_properties",
    "issue_service_identities",
    "secure_cluster",
]

BROKER = "docbus-broker"
ADMIN = "docbus-admin"
PROCESSOR = "docbus-processor"

#: the SSL listener of a node listens on its client port + 50 (clear of the controller ports,
#: client + 1 and cluster + 100 + i, and of the other nodes of a 3-node cluster)
SSL_PORT_OFFSET = 50

# Java names the subject in RFC 2253 form; our TLS certificates carry CN=<name> and nothing else,
# so only that exact shape maps to User:<name>. Any other DN stays the whole DN, which no ACL names.
PRINCIPAL_RULES = "RULE:^CN=([^,=]+)$/$1/,DEFAULT"

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def broker_security_properties(server: TlsFiles) -> dict[str, str]:
    """server.properties additions: PEM stores, required client certs, principal mapping, authorizer.

    ``User:ANONYMOUS`` is a super user because the PLAINTEXT and CONTROLLER listeners are
    unauthenticated and the node must still talk to itself over them; both are bound to 127.0.0.1.
    A production deployment closes PLAINTEXT and runs inter-broker and controller traffic over SSL
    with the broker certificate (User:docbus-broker), then drops ANONYMOUS (docs/SECURITY.md)."""
    return {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(server.bundle),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(server.ca),
        "ssl.client.auth": "required",
        "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
        "ssl.principal.mapping.rules": PRINCIPAL_RULES,
        "authorizer.class.name": AUTHORIZER,
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:ANONYMOUS;User:{ADMIN};User:{BROKER}",
    }


def issue_service_identities(authority: Authority) -> dict[str, TlsFiles]:
    """TLS certificates of the broker (server + client), the operator and the processors."""
    return {
        BROKER: issue_tls(authority, BROKER, server=True),
        ADMIN: issue_tls(authority, ADMIN),
        PROCESSOR: issue_tls(authority, PROCESSOR),
    }


def secure_cluster(pki: Path, nodes: int, cfg: InfraConfig) -> Cluster:
    """The broker (or 3-node cluster) of ``cfg`` with an mTLS listener and the StandardAuthorizer.

    ``pki`` must already hold the broker's TLS identity (`issue_service_identities`)."""
    base = cluster_for(nodes, cfg)
    server = tls_files(pki, BROKER)
    if not server.bundle.exists():
        raise FileNotFoundError(f"{server.bundle} is missing: issue the broker's TLS certificate first")
    return dataclasses.replace(
        base,
        nodes=[dataclasses.replace(n, ssl_port=n.port + SSL_PORT_OFFSET) for n in base.nodes],
        extra={**base.extra, **broker_security_properties(server)},
    )
