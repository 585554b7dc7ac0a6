"""The package's own XMLDSig signature: valid / invalid / absent, legacy rsa-sha1 on import only."""

from __future__ import annotations

import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml import DigestAlgorithm, SignatureMethod, XMLSigner

from producers.edxml import SignatureVerdict, export_package, parse_package
from producers.edxml._xml import DS, PackageLimits, parse_xml, q
from producers.edxml.dsig import placeholder
from producers.edxml.writer import content_of, write_package

Signer = tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, x509.Certificate]


@pytest.fixture(scope="module")
def received(sample: bytes):  # type: ignore[no-untyped-def]
    return parse_package(sample).envelope(message_id=str(uuid.uuid4()))


def test_the_sample_placeholder_is_reported_absent(sample: bytes) -> None:
    report = parse_package(sample).signature
    assert report.verdict is SignatureVerdict.ABSENT and "placeholder" in report.detail
    start, end = sample.index(b"<Signature "), sample.index(b"</Signature>") + len(b"</Signature>")
    assert parse_package(sample[:start] + sample[end:]).signature.verdict is SignatureVerdict.ABSENT


@pytest.mark.parametrize("which", ["rsa_signer", "ec_signer"])
def test_an_exported_package_signed_by_the_node_verifies(
    received, which: str, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    key, cert = request.getfixturevalue(which)
    signed = export_package(received, key=key, chain=[cert])
    pkg = parse_package(signed)
    assert pkg.signature.verdict is SignatureVerdict.VALID, pkg.signature.detail
    assert pkg.signature.subject == cert.subject.rfc4514_string() and not pkg.signature.legacy
    expected = "rsa-sha256" if which == "rsa_signer" else "ecdsa-sha256"
    assert pkg.signature.algorithm.endswith(expected)
    assert b"sha1" not in signed  # never emitted
    assert pkg.content == content_of(received)
    # edXML keeps the signature in the header, covering the whole package (attachments included)
    root = parse_xml(signed, PackageLimits())
    assert root.find(f"{q('edXMLEnvelope')}/{q('edXMLHeader')}/{q('Signature', DS)}") is not None
    assert root.find(f".//{q('Reference', DS)}").get("URI") == ""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("V/v triển khai học bạ số", "V/v hủy triển khai học bạ số"),  # the header
        ("JVBERi0xLjQK", "JVBERi0xLjUK"),  # the attachment's bytes
        ("<edXML:Priority>0</edXML:Priority>", "<edXML:Priority>3</edXML:Priority>"),
    ],
)
def test_a_package_changed_after_signing_is_invalid(received, rsa_signer: Signer, old: str, new: str) -> None:  # type: ignore[no-untyped-def]
    key, cert = rsa_signer
    signed = export_package(received, key=key, chain=[cert])
    assert old.encode() in signed
    report = parse_package(signed.replace(old.encode(), new.encode(), 1)).signature
    assert report.verdict is SignatureVerdict.INVALID and report.subject == cert.subject.rfc4514_string()


class _LegacySigner(XMLSigner):
    """What older e-office products emit; docbus itself never signs this way."""

    def check_deprecated_methods(self) -> None:
        pass


def _sign_legacy(received, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> bytes:  # type: ignore[no-untyped-def]
    root = write_package(content_of(received), signature_placeholder=placeholder())
    signer = _LegacySigner(
        signature_algorithm=SignatureMethod.RSA_SHA1, digest_algorithm=DigestAlgorithm.SHA1
    )
    from cryptography.hazmat.primitives import serialization

    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    out: bytes = etree.tostring(signer.sign(root, key=key, cert=[pem]), encoding="UTF-8")
    return out


def test_legacy_rsa_sha1_is_accepted_on_import_and_flagged(received, rsa_signer: Signer) -> None:  # type: ignore[no-untyped-def]
    key, cert = rsa_signer
    assert isinstance(key, rsa.RSAPrivateKey)
    legacy = _sign_legacy(received, key, cert)
    report = parse_package(legacy).signature
    assert report.verdict is SignatureVerdict.VALID and report.legacy
    assert report.algorithm == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    tampered = parse_package(
        legacy.replace(b"CNTT-HTTT.pdf</edXML:Description>", b"X.pdf</edXML:Description>", 1)
    )
    assert tampered.signature.verdict is SignatureVerdict.INVALID


def test_a_signature_over_part_of_the_package_is_invalid(received, rsa_signer: Signer) -> None:  # type: ignore[no-untyped-def]
    key, cert = rsa_signer
    signed = export_package(received, key=key, chain=[cert])
    partial = signed.replace(b'URI=""', b'URI="#header"', 1)
    report = parse_package(partial).signature
    assert report.verdict is SignatureVerdict.INVALID and "whole package" in report.detail


def test_a_signature_without_its_certificate_is_invalid(received, rsa_signer: Signer) -> None:  # type: ignore[no-untyped-def]
    key, cert = rsa_signer
    root = parse_xml(export_package(received, key=key, chain=[cert]), PackageLimits())
    for el in list(root.iter(q("X509Data", DS))):
        el.getparent().remove(el)
    report = parse_package(etree.tostring(root)).signature
    assert report.verdict is SignatureVerdict.INVALID and "X509Certificate" in report.detail


def test_two_signatures_are_invalid(received, rsa_signer: Signer) -> None:  # type: ignore[no-untyped-def]
    key, cert = rsa_signer
    root = parse_xml(export_package(received, key=key, chain=[cert]), PackageLimits())
    sig = root.find(f".//{q('Signature', DS)}")
    sig.getparent().append(etree.fromstring(etree.tostring(sig)))
    assert parse_package(etree.tostring(root)).signature.verdict is SignatureVerdict.INVALID
