"""mTLS to the Kafka broker and its authorizer (docs/SECURITY.md): the secured deployment.

A secured node has three listeners, all mTLS with certificates of the ministry PKI: CLIENT (the
client port; every docbus client), INTERNAL (client port + 50; inter-broker replication) and
CONTROLLER (KRaft). No PLAINTEXT listener exists. The certificate's ``CN=<name>`` becomes the
principal ``User:<name>``; Kafka's StandardAuthorizer then allows only what infra/acls.py grants.
The broker's own certificate (``User:docbus-broker``) and the operator's (``User:docbus-admin``)
are the only super users.
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
    "AUDIT_WRITER",
    "BROKER",
    "DIRECTORY",
    "INTERNAL_PORT_OFFSET",
    "PROCESSOR",
    "QUOTA_SERVICES",
    "SERVICES",
    "broker_security_properties",
    "issue_service_identities",
    "secure_cluster",
]

#: the principals of the services (CN of their TLS certificates)
BROKER = "docbus-broker"
ADMIN = "docbus-admin"  # the operator: a super user
PROCESSOR = "docbus-processor"  # validate+route, receipts (docbus bus run)
AUDIT_WRITER = "docbus-audit"  # the single audit writer
DIRECTORY = "docbus-directory"  # the directory authority's publisher
SERVICES = (BROKER, ADMIN, PROCESSOR, AUDIT_WRITER, DIRECTORY)
#: the client principals with a quota of their own (infra/quotas.py); every org gets the default
QUOTA_SERVICES = (ADMIN, PROCESSOR, AUDIT_WRITER, DIRECTORY)

#: the inter-broker listener of a node listens on its client port + 50 (clear of the controller
#: ports, client + 1 and cluster + 100 + i, and of the other nodes of a 3-node cluster)
INTERNAL_PORT_OFFSET = 50

# Java names the subject in RFC 2253 form; our TLS certificates carry CN=<name> and nothing else,
# so only that exact shape maps to User:<name>. Any other DN stays the whole DN, which no ACL names.
PRINCIPAL_RULES = "RULE:^CN=([^,=]+)$/$1/,DEFAULT"

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"


def broker_security_properties(server: TlsFiles) -> dict[str, str]:
    """server.properties additions: PEM stores, required client certs on every listener (clients,
    brokers, controllers), principal mapping, the authorizer, no anonymous super user."""
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
        "super.users": f"User:{BROKER};User:{ADMIN}",
    }


def issue_service_identities(authority: Authority) -> dict[str, TlsFiles]:
    """TLS certificates of the broker (server + client) and of each service principal."""
    return {name: issue_tls(authority, name, server=name == BROKER) for name in SERVICES}


def secure_cluster(pki: Path, nodes: int, cfg: InfraConfig) -> Cluster:
    """The broker (or 3-node cluster) of ``cfg`` with mTLS on every listener and the authorizer.

    ``pki`` must hold the broker's TLS identity (`issue_service_identities`) before it starts."""
    base = cluster_for(nodes, cfg)
    server = tls_files(pki, BROKER)
    return dataclasses.replace(
        base,
        nodes=[dataclasses.replace(n, internal_port=n.port + INTERNAL_PORT_OFFSET) for n in base.nodes],
        extra={**base.extra, **broker_security_properties(server)},
        tls=server,
    )
