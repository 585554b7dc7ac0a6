"""The ministry PKI tooling: files, profiles, revocation, and the ``docbus pki`` commands."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from consumers.trust import TrustPolicy, TrustStore
from docbus.commands.pki import pki_app
from infra.pki import Authority
from producers.keys import FileKeyProvider, SigningError, sign_dual
from schemas import oids
from tests.trust.conftest import DATA, PASS, Pki, now


def test_private_keys_are_encrypted_and_private(pki: Pki) -> None:
    for issued in (pki.seal, pki.official, pki.audit):
        assert issued.key_path is not None
        assert stat.S_IMODE(issued.key_path.stat().st_mode) == 0o600
        pem = issued.key_path.read_bytes()
        assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        with pytest.raises(TypeError):  # needs the passphrase
            serialization.load_pem_private_key(pem, None)
    for name in ("root.key.pem", "issuing.key.pem"):
        assert stat.S_IMODE((pki.authority.folder / "ca" / name).stat().st_mode) == 0o600


def test_org_certificate_profile(pki: Pki) -> None:
    cert = pki.seal.cert
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "G03"
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign
    ekus = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert ekus == {oids.EKU_DOCUMENT_SIGNING, oids.EKU_DOCBUS_DOCUMENT_SIGNING}
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [oids.POLICY_ORGANIZATION]


def test_official_binds_org_code_and_position(pki: Pki) -> None:
    subject = pki.official.cert.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "G03.15"
    assert subject.get_attributes_for_oid(NameOID.TITLE)[0].value == "Chánh Văn phòng"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Bộ Giáo dục và Đào tạo"


def test_audit_key_is_separate_from_document_keys(pki: Pki) -> None:
    ekus = set(pki.audit.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert ekus == {oids.EKU_AUDIT_SIGNING}
    assert pki.audit.cert.public_key() != pki.seal.cert.public_key()


def test_key_file_and_pkcs12_sign_verifiable_documents(pki: Pki) -> None:
    # files of an org code hold its latest certificate, so this test has a code of its own
    seal_files = pki.authority.issue_org("P12", "Trường P12")
    official_files = pki.authority.issue_official("P12", "Hồ Văn Hải", "Hiệu trưởng")
    assert official_files.key_path and seal_files.p12_path and official_files.p12_path is None
    official = FileKeyProvider.from_pem(official_files.key_path, official_files.cert_path, PASS)
    seal = FileKeyProvider.from_pkcs12(seal_files.p12_path, PASS)
    assert len(seal.chain) == 3 and len(official.chain) == 2
    sigs = sign_dual(official, seal, DATA)
    assert [s.role.value for s in sigs] == ["official", "organization"]
    assert sigs[0].signing_time == sigs[1].signing_time
    pki.policy().verify_document(DATA, sigs, "P12", now=now())


def test_wrong_passphrase(pki: Pki) -> None:
    assert pki.seal.key_path and pki.seal.p12_path
    with pytest.raises(SigningError):
        FileKeyProvider.from_pem(pki.seal.key_path, pki.seal.cert_path, b"wrong")
    with pytest.raises(SigningError):
        FileKeyProvider.from_pkcs12(pki.seal.p12_path, b"wrong")
    with pytest.raises(ValueError):
        Authority(pki.authority.folder, b"wrong")


def test_key_of_another_certificate_is_refused(pki: Pki) -> None:
    assert pki.seal.key is not None
    with pytest.raises(SigningError, match="does not belong"):
        FileKeyProvider(pki.seal.key, pki.official.chain)


def test_revoke_by_code_lists_every_live_certificate(tmp_path: Path) -> None:
    a = Authority.init(tmp_path / "pki", PASS)
    a.issue_org("H41", "Sở GD&ĐT H41")
    a.issue_official("H41", "Đặng Văn Phúc", "Phó Giám đốc")
    a.issue_org("H42", "Sở GD&ĐT H42")
    hits = a.revoke("H41", x509.ReasonFlags.cessation_of_operation)
    assert sorted(e.kind for e in hits) == ["encryption", "official", "org"]
    crl = x509.load_pem_x509_crl((tmp_path / "pki/crl/issuing.crl.pem").read_bytes())
    assert {r.serial_number for r in crl} == {int(e.serial, 16) for e in hits}
    reopened = Authority(tmp_path / "pki", PASS)
    assert [e.code for e in reopened.entries if e.revoked_at is None] == ["H42", "H42"]  # seal, encryption
    with pytest.raises(KeyError):
        reopened.revoke("H41")


def test_bulk_issuance_writes_the_index_once(tmp_path: Path) -> None:
    a = Authority.init(tmp_path / "pki", PASS)
    with a.batch():
        for i in range(40):
            a.issue_org(f"T{i:02d}", f"Trường {i}")
        assert len(Authority(tmp_path / "pki", PASS).entries) == 0
    assert len(Authority(tmp_path / "pki", PASS).entries) == 80  # a seal and an encryption key each


def test_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"DOCBUS_PKI_DIR": str(tmp_path / "pki"), "DOCBUS_PKI_PASSPHRASE": "cli-pass", "COLUMNS": "250"}

    def run(*args: str) -> str:
        result = runner.invoke(pki_app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.output

    run("init")
    assert runner.invoke(pki_app, ["init"], env=env).exit_code != 0  # never overwrites a CA
    run("issue-org", "G03", "--name", "Bộ GD&ĐT", "--key", "ed25519")
    run("issue-official", "G03", "--name", "Ngô Thị Giang", "--position", "Thứ trưởng")
    run("issue-audit")
    run("revoke", "G03", "--reason", "superseded")
    run("crl", "--next-update-hours", "6")
    listing = run("list")
    assert "Ngô Thị Giang" in listing and "superseded" in listing
    crl = x509.load_pem_x509_crl((tmp_path / "pki/crl/issuing.crl.pem").read_bytes())
    assert crl.next_update_utc is not None and crl.last_update_utc is not None
    assert (crl.next_update_utc - crl.last_update_utc).total_seconds() == 6 * 3600
    assert len(list(crl)) == 4  # seal, encryption key, official and the audit key all carry G03
    bad = runner.invoke(pki_app, ["list"], env={**env, "DOCBUS_PKI_PASSPHRASE": "nope"})
    assert bad.exit_code != 0
    store = TrustStore(
        [(tmp_path / "pki/ca/root.pem").read_bytes()],
        [p.read_bytes() for p in (tmp_path / "pki/crl").iterdir()],
    )
    assert TrustPolicy(store).store.generation == 3
