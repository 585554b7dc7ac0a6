"""Trust anchors and CRLs, with a generation counter that invalidates every cached decision.

Sans-I/O: callers read files or topics and hand bytes in. A CRL replaces the one held for the same
issuer only if it is newer (a replayed old CRL cannot un-revoke a certificate).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from consumers.trust.errors import TrustError
from schemas.reasons import Reason

__all__ = ["TrustStore", "crl_signed_by", "load_certificate", "load_crl"]

logger = logging.getLogger(__name__)
_SHA256 = hashes.SHA256()


def load_certificate(data: bytes | x509.Certificate) -> x509.Certificate:
    if isinstance(data, x509.Certificate):
        return data
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is no ValueError
        raise TrustError(Reason.UNTRUSTED_CHAIN, f"not an X.509 certificate: {exc}") from None


def load_crl(data: bytes | x509.CertificateRevocationList) -> x509.CertificateRevocationList:
    if isinstance(data, x509.CertificateRevocationList):
        return data
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise TrustError(Reason.CRL_UNAVAILABLE, f"not an X.509 CRL: {exc}") from None


class TrustStore:
    """Anchors (root CA certificates) and the latest CRL per issuer name."""

    def __init__(
        self,
        anchors: Iterable[bytes | x509.Certificate] = (),
        crls: Iterable[bytes | x509.CertificateRevocationList] = (),
    ) -> None:
        self._anchors: dict[bytes, x509.Certificate] = {}  # SHA-256 of DER -> certificate
        self._by_subject: dict[bytes, list[x509.Certificate]] = {}
        self._crls: dict[bytes, x509.CertificateRevocationList] = {}
        # CRL signature checks done: id of the held CRL object -> (the CRL, issuer fingerprint, valid)
        self._crl_checked: dict[int, tuple[x509.CertificateRevocationList, bytes, bool]] = {}
        # bumped on every change; cached chain decisions from an older generation are void
        self.generation = 0
        for anchor in anchors:
            self.add_anchor(anchor)
        for crl in crls:
            self.add_crl(crl)

    def add_anchor(self, data: bytes | x509.Certificate) -> x509.Certificate:
        cert = load_certificate(data)
        fp = cert.fingerprint(_SHA256)
        if fp not in self._anchors:
            self._anchors[fp] = cert
            self._by_subject.setdefault(cert.subject.public_bytes(), []).append(cert)
            self.generation += 1
        return cert

    def remove_anchor(self, data: bytes | x509.Certificate) -> None:
        cert = load_certificate(data)
        if self._anchors.pop(cert.fingerprint(_SHA256), None) is not None:
            self._by_subject[cert.subject.public_bytes()].remove(cert)
            self.generation += 1

    def add_crl(
        self,
        data: bytes | x509.CertificateRevocationList,
        issuer: bytes | x509.Certificate | None = None,
    ) -> bool:
        """Hold ``data`` as the CRL of its issuer. With ``issuer`` given (or the issuer an anchor)
        the signature is checked now; otherwise when a chain first uses it. True if it was taken."""
        crl = load_crl(data)
        key = crl.issuer.public_bytes()
        signer = load_certificate(issuer) if issuer is not None else None
        if signer is None and len(self._by_subject.get(key, ())) == 1:
            signer = self._by_subject[key][0]
        if signer is not None and not crl_signed_by(crl, signer):
            raise TrustError(
                Reason.CRL_UNAVAILABLE, f"CRL for {crl.issuer.rfc4514_string()} has a bad signature"
            )
        held = self._crls.get(key)
        if held is not None and not _newer(crl, held):
            logger.info("ignoring CRL for %s: not newer than the one held", crl.issuer.rfc4514_string())
            return False
        self._crls[key] = crl
        if held is not None:
            self._crl_checked.pop(id(held), None)
        self.generation += 1
        return True

    def crl_trusted(self, crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
        """Whether ``issuer`` signed ``crl`` (a held CRL); remembered while the CRL is held."""
        fp = issuer.fingerprint(_SHA256)
        done = self._crl_checked.get(id(crl))
        if done is not None and done[0] is crl and done[1] == fp:
            return done[2]
        ok = crl_signed_by(crl, issuer)
        self._crl_checked[id(crl)] = (crl, fp, ok)
        return ok

    def crl_for(self, issuer: x509.Name) -> x509.CertificateRevocationList | None:
        return self._crls.get(issuer.public_bytes())

    def is_anchor(self, cert: x509.Certificate) -> bool:
        return cert.fingerprint(_SHA256) in self._anchors

    def is_anchor_fingerprint(self, sha256: bytes) -> bool:
        return sha256 in self._anchors

    def anchors_named(self, name: x509.Name) -> list[x509.Certificate]:
        return list(self._by_subject.get(name.public_bytes(), ()))

    @property
    def anchors(self) -> list[x509.Certificate]:
        return list(self._anchors.values())


def crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    if crl.issuer != issuer.subject:
        return False
    try:
        key = issuer.public_key()
        return bool(crl.is_signature_valid(key))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _newer(crl: x509.CertificateRevocationList, held: x509.CertificateRevocationList) -> bool:
    number, held_number = _crl_number(crl), _crl_number(held)
    if number is not None and held_number is not None and number != held_number:
        return number > held_number
    return crl.last_update_utc > held.last_update_utc


def _crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None
