"""The ACL policy and its plan, without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from infra.acls import Acl, AclPolicy, Op, Pattern, Resource, desired_acls, load_policy, org_acls, plan_acls
from infra.pki.authority import Authority
from infra.pki.tls import issue_tls

POLICY = load_policy()


def test_an_org_reads_only_its_own_inbox_status_and_group() -> None:
    grants = org_acls("G03.15", POLICY)
    read_topics = {a.name for a in grants if a.resource is Resource.TOPIC and a.op is Op.READ}
    # docbus.blobs: chunks of large payloads, written by senders and read by recipients (SECURITY.md)
    assert read_topics == {"docbus.inbox.G03.15", "docbus.status.G03.15", "docbus.directory", "docbus.blobs"}
    write_topics = {a.name for a in grants if a.op is Op.WRITE}
    assert write_topics == {"docbus.ingress", "docbus.receipts", "docbus.blobs"}
    groups = {(a.name, a.op) for a in grants if a.resource is Resource.GROUP}
    assert groups == {("docbus-inbox-G03.15", Op.READ), ("docbus-inbox-G03.15", Op.DESCRIBE)}
    assert all(a.pattern is Pattern.LITERAL and a.principal == "User:G03.15" for a in grants)
    assert not any(a.resource is Resource.CLUSTER for a in grants)


def test_a_sub_unit_gets_nothing_of_its_parent() -> None:
    """Literal names: G03.15.02 and G03.15 share a prefix, never a grant."""
    child = {a.name for a in org_acls("G03.15.02", POLICY)}
    assert "docbus.inbox.G03.15" not in child
    assert "docbus.status.G03.15" not in child
    assert "docbus-inbox-G03.15" not in child


def test_the_processor_owns_docbus_topics_and_groups_by_prefix() -> None:
    grants = desired_acls([], AclPolicy())
    assert Acl("User:docbus-processor", Resource.TOPIC, "docbus", Op.ALL, Pattern.PREFIXED) in grants
    assert Acl("User:docbus-processor", Resource.GROUP, "docbus", Op.ALL, Pattern.PREFIXED) in grants


def test_plan_creates_only_what_is_missing() -> None:
    want = desired_acls(["G03.15", "G03.16", "G03.15"], POLICY)
    first = plan_acls(want, [])
    assert len(first.create) == len(set(want)) and not first.ok
    again = plan_acls(want, first.create)
    assert not again.create and len(again.ok) == len(set(want))
    partial = plan_acls(want, org_acls("G03.15", POLICY))
    assert set(partial.create) == set(want) - set(org_acls("G03.15", POLICY))


def test_tls_certificate_is_a_client_login_and_not_a_signer(tmp_path: Path) -> None:
    authority = Authority.init(tmp_path / "pki", b"pw")
    files = issue_tls(authority, "G03.15")
    cert = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
    assert cert.subject.rfc4514_string() == "CN=G03.15"
    ekus = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert ekus == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    assert oct(files.key.stat().st_mode & 0o777) == "0o600"
    assert authority.find("G03.15", "tls").kind == "tls"
    with pytest.raises(ValueError):
        issue_tls(authority, "G03.15,O=Bộ")  # would change the principal the broker maps
