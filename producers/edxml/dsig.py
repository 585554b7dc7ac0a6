"""The package's own XMLDSig signature: verified on import (legacy rsa-sha1 accepted), made on export.

Verification uses the certificate the signature carries (KeyInfo/X509Certificate): it proves the
package is intact and signed by that certificate's key; whether the certificate is trusted is the
caller's question (its subject and DER are in the report). A signature must cover the whole package
(one Reference, ``URI=""``, enveloped). Export signs with rsa-sha256 or ecdsa-sha256 and never SHA-1.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from producers.edxml._xml import DS, q

__all__ = ["LEGACY_ALGORITHMS", "SignatureReport", "SignatureVerdict", "sign_package", "verify_package"]

Element = Any
LEGACY_ALGORITHMS = frozenset({SignatureMethod.RSA_SHA1.value, DigestAlgorithm.SHA1.value})
# import accepts what real packages carry (SHA-1 included); DSA and HMAC are not organisation signatures
_ACCEPTED = SignatureConfiguration(
    signature_methods=frozenset(m for m in SignatureMethod if not m.name.startswith(("DSA_", "HMAC_"))),
    digest_algorithms=frozenset(DigestAlgorithm),
)


class SignatureVerdict(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    ABSENT = "absent"  # no Signature element, or an empty placeholder (SignatureValue empty)


@dataclass(frozen=True, slots=True)
class SignatureReport:
    verdict: SignatureVerdict
    detail: str = ""
    subject: str = ""  # the signer certificate's subject (RFC 4514)
    algorithm: str = ""  # SignatureMethod URI
    legacy: bool = False  # SHA-1: accepted on import only
    certificate: bytes | None = None  # DER

    @property
    def valid(self) -> bool:
        return self.verdict is SignatureVerdict.VALID


def _only(root: Element, path: str) -> Element | None:
    found = root.findall(path, {"ds": DS})
    return found[0] if len(found) == 1 else None


def verify_package(root: Element) -> SignatureReport:
    """Verify the package's enveloped signature; never raises for a bad one (the report says)."""
    signatures = list(root.iter(q("Signature", DS)))
    if not signatures:
        return SignatureReport(SignatureVerdict.ABSENT, "no Signature element")
    if len(signatures) > 1:
        return SignatureReport(SignatureVerdict.INVALID, f"{len(signatures)} Signature elements")
    sig = signatures[0]
    if not "".join(sig.findtext(q("SignatureValue", DS)) or "").strip():
        return SignatureReport(SignatureVerdict.ABSENT, "empty signature placeholder")
    method = sig.find(f"{q('SignedInfo', DS)}/{q('SignatureMethod', DS)}")
    algorithm = "" if method is None else str(method.get("Algorithm", ""))
    digests = {str(d.get("Algorithm", "")) for d in sig.iter(q("DigestMethod", DS))}
    legacy = bool(({algorithm} | digests) & LEGACY_ALGORITHMS)
    refs = sig.findall(f"{q('SignedInfo', DS)}/{q('Reference', DS)}")
    if len(refs) != 1 or refs[0].get("URI") != "":
        return SignatureReport(
            SignatureVerdict.INVALID,
            'the signature must cover the whole package (one Reference URI="")',
            algorithm=algorithm,
            legacy=legacy,
        )
    cert = _certificate(sig)
    if cert is None:
        return SignatureReport(
            SignatureVerdict.INVALID,
            "no usable X509Certificate in KeyInfo",
            algorithm=algorithm,
            legacy=legacy,
        )
    subject = cert.subject.rfc4514_string()
    der = cert.public_bytes(serialization.Encoding.DER)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    try:
        XMLVerifier().verify(root, x509_cert=pem, expect_config=_ACCEPTED)
    except (InvalidSignature, InvalidDigest, InvalidInput, InvalidCertificate) as exc:
        return SignatureReport(
            SignatureVerdict.INVALID, f"{type(exc).__name__}: {exc}", subject, algorithm, legacy, der
        )
    except (etree.LxmlError, ValueError, TypeError) as exc:  # a malformed SignedInfo or key
        return SignatureReport(
            SignatureVerdict.INVALID, f"unverifiable: {exc!r}", subject, algorithm, legacy, der
        )
    return SignatureReport(SignatureVerdict.VALID, "", subject, algorithm, legacy, der)


def _certificate(sig: Element) -> x509.Certificate | None:
    texts = [t.text or "" for t in sig.iter(q("X509Certificate", DS))]
    if len(texts) < 1:
        return None
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join(texts[0].split()), validate=True))
    except (binascii.Error, ValueError):
        return None


def placeholder() -> Element:
    """Where signxml puts an enveloped signature (edXML keeps it in edXMLHeader)."""
    el = etree.Element(q("Signature", DS), nsmap={"ds": DS})
    el.set("Id", "placeholder")
    return el


def sign_package(
    root: Element, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, chain: list[x509.Certificate]
) -> Element:
    """Sign the package enveloped (rsa-sha256 / ecdsa-sha256, SHA-256 digest, exclusive C14N); its
    root must hold one :func:`placeholder`. Returns the signed root."""
    method = (
        SignatureMethod.RSA_SHA256 if isinstance(key, rsa.RSAPrivateKey) else SignatureMethod.ECDSA_SHA256
    )
    signer = XMLSigner(
        signature_algorithm=method,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    pems = [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in chain]
    signed: Element = signer.sign(root, key=key, cert=pems)
    return signed
