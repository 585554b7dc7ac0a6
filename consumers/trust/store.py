"""Trust anchors (each for some roles), known intermediates and CRLs, with a generation counter
that voids every cached decision when anything changes.

Sans-I/O: callers read files or topics and hand bytes in. CRLs are kept per scope (issuer, the
issuingDistributionPoint, full or delta), so a delta or a partitioned CRL never displaces the full
one; within a scope the newest few are held (CRL number, then thisUpdate), so a replayed older CRL
cannot un-revoke. A CRL is offered to path validation only when it belongs to the path and a
certificate of its issuer's name verifies its signature (``crls_for``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from asn1crypto import x509 as a_x509
from cryptography import x509

from consumers.trust.der import Cert, Crl, parse_cert, parse_crl
from consumers.trust.leaf import Purpose
from schemas.errors import TrustError
from schemas.reasons import Reason

__all__ = ["ALL_PURPOSES", "TrustStore", "crl_signed_by", "load_certificate", "load_crl"]

logger = logging.getLogger(__name__)

ALL_PURPOSES = frozenset(Purpose)
_PER_SCOPE = 4  # CRLs held per scope, newest first
_CLOSURE_ROUNDS = 3  # how far CRL-signing certificates are followed up from the path


def load_certificate(data: bytes | x509.Certificate) -> x509.Certificate:
    return parse_cert(data).x509


def load_crl(data: bytes | x509.CertificateRevocationList) -> x509.CertificateRevocationList:
    return parse_crl(data).x509


class TrustStore:
    """Anchors, intermediates and CRLs. ``generation`` moves on every change."""

    def __init__(
        self,
        anchors: Iterable[bytes | x509.Certificate] = (),
        crls: Iterable[bytes | x509.CertificateRevocationList] = (),
        intermediates: Iterable[bytes | x509.Certificate] = (),
    ) -> None:
        self._anchors: dict[bytes, tuple[Cert, frozenset[Purpose]]] = {}
        self._others: dict[bytes, Cert] = {}  # intermediates and CRL signers: never trusted alone
        self._by_subject: dict[str, list[Cert]] = {}
        self._crls: dict[tuple[str, bytes, bool], list[Crl]] = {}
        self._crl_sig: dict[tuple[bytes, bytes], bool] = {}  # (CRL sha256, cert sha256) -> valid
        self.generation = 0
        for anchor in anchors:
            self.add_anchor(anchor)
        for cert in intermediates:
            self.add_intermediate(cert)
        for crl in crls:
            self.add_crl(crl)

    # --- certificates ---

    def add_anchor(
        self, data: bytes | x509.Certificate, purposes: Iterable[Purpose] = ALL_PURPOSES
    ) -> x509.Certificate:
        """Trust ``data`` as a root for ``purposes`` (all roles unless narrowed)."""
        cert = parse_cert(data)
        allowed = frozenset(purposes)
        held = self._anchors.get(cert.sha256)
        if held is None or held[1] != allowed:
            if held is None:
                self._index(cert)
            self._anchors[cert.sha256] = (cert, allowed)
            self.generation += 1
        return cert.x509

    def remove_anchor(self, data: bytes | x509.Certificate) -> None:
        cert = parse_cert(data)
        if self._anchors.pop(cert.sha256, None) is not None:
            self._unindex(cert.sha256, cert.subject)
            self.generation += 1

    def add_intermediate(self, data: bytes | x509.Certificate) -> x509.Certificate:
        """A CA or CRL-signing certificate for path building; trusted only through a path."""
        cert = parse_cert(data)
        if cert.sha256 not in self._others and cert.sha256 not in self._anchors:
            self._others[cert.sha256] = cert
            self._index(cert)
            self.generation += 1
        return cert.x509

    def _index(self, cert: Cert) -> None:
        self._by_subject.setdefault(cert.subject, []).append(cert)

    def _unindex(self, sha256: bytes, subject: str) -> None:
        if sha256 in self._others:
            return
        self._by_subject[subject] = [c for c in self._by_subject.get(subject, ()) if c.sha256 != sha256]

    def anchor_purposes(self, sha256: bytes) -> frozenset[Purpose] | None:
        held = self._anchors.get(sha256)
        return held[1] if held is not None else None

    def is_anchor(self, cert: x509.Certificate) -> bool:
        return parse_cert(cert).sha256 in self._anchors

    def is_anchor_fingerprint(self, sha256: bytes) -> bool:
        return sha256 in self._anchors

    def anchors_named(self, name: x509.Name) -> list[x509.Certificate]:
        key = _name_key(name)
        return [c.x509 for c in self._by_subject.get(key, ()) if c.sha256 in self._anchors]

    @property
    def anchors(self) -> list[x509.Certificate]:
        return [c.x509 for c, _ in self._anchors.values()]

    @property
    def anchor_certs(self) -> list[Cert]:
        return [c for c, _ in self._anchors.values()]

    @property
    def intermediate_certs(self) -> list[Cert]:
        return list(self._others.values())

    def named(self, subject: str) -> list[Cert]:
        return list(self._by_subject.get(subject, ()))

    # --- CRLs ---

    def add_crl(
        self,
        data: bytes | x509.CertificateRevocationList,
        issuer: bytes | x509.Certificate | None = None,
    ) -> bool:
        """Hold ``data`` in its scope. Its signature is checked now against ``issuer`` if given,
        else against the known certificates of its issuer's name, if any (CRL_UNAVAILABLE when
        none verifies); otherwise when a path first uses it. True if it is the scope's newest."""
        crl = parse_crl(data)
        signers = [parse_cert(issuer)] if issuer is not None else self.named(crl.issuer)
        if signers and not any(self.crl_verified(crl, s) for s in signers):
            raise TrustError(Reason.CRL_UNAVAILABLE, f"CRL for {_show(crl)} has a bad signature")
        held = self._crls.setdefault(crl.scope, [])
        if any(h.sha256 == crl.sha256 for h in held):
            return False
        newest = not held or crl.rank > held[0].rank
        if not newest and held and crl.rank < held[-1].rank and len(held) >= _PER_SCOPE:
            logger.info("ignoring CRL for %s: older than the ones held", _show(crl))
            return False
        held.append(crl)
        held.sort(key=lambda c: c.rank, reverse=True)
        del held[_PER_SCOPE:]
        if newest:
            self.generation += 1
        else:
            logger.info("keeping CRL for %s behind a newer one", _show(crl))
        return newest

    def crl_verified(self, crl: Crl, signer: Cert) -> bool:
        """Whether ``signer`` signed ``crl`` (remembered)."""
        key = (crl.sha256, signer.sha256)
        done = self._crl_sig.get(key)
        if done is None:
            done = crl.issuer == signer.subject and crl_signed_by(crl.x509, signer.x509)
            if len(self._crl_sig) > 65536:
                self._crl_sig.clear()
            self._crl_sig[key] = done
        return done

    def crl_for(self, issuer: x509.Name) -> x509.CertificateRevocationList | None:
        """The newest complete (not delta, not partitioned) CRL of ``issuer``, if held."""
        held = self._crls.get((_name_key(issuer), b"", False))
        return held[0].x509 if held else None

    def crls_for(self, path: Sequence[Cert]) -> list[Crl]:
        """The CRLs that belong to ``path`` and whose signature a certificate of their issuer's
        name verifies: in each scope the newest such (all of them on a tie)."""
        names, signers = self._names_of(path)
        out: list[Crl] = []
        for scope, held in self._crls.items():
            if scope[0] not in names:
                continue
            good = [c for c in held if any(self.crl_verified(c, s) for s in signers.get(scope[0], ()))]
            out += [c for c in good if c.rank == good[0].rank] if good else []
        return out

    def _names_of(self, path: Sequence[Cert]) -> tuple[set[str], dict[str, list[Cert]]]:
        """Issuer names whose CRLs matter to ``path``: its CAs, the cRLIssuers it names, and,
        followed up a few steps, the issuers of the certificates that sign those CRLs."""
        names = {c.subject for c in path} | {n for c in path for n in c.crl_issuers}
        signers: dict[str, list[Cert]] = {}
        for _ in range(_CLOSURE_ROUNDS):
            grown = set(names)
            for name in names:
                found = {c.sha256: c for c in (*self.named(name), *(p for p in path if p.subject == name))}
                signers[name] = list(found.values())
                for c in signers[name]:
                    grown.add(c.issuer)
                    grown.update(c.crl_issuers)
            if grown == names:
                break
            names = grown
        for name in names - signers.keys():
            signers[name] = [*self.named(name), *(p for p in path if p.subject == name)]
        return names, signers


def crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        return bool(crl.is_signature_valid(issuer.public_key()))  # type: ignore[arg-type]
    except Exception:  # an unusable key or algorithm verifies nothing
        return False


def _name_key(name: x509.Name) -> str:
    try:
        return str(a_x509.Name.load(name.public_bytes()).hashable)
    except Exception:
        return "\x00unusable"


def _show(crl: Crl) -> str:
    try:
        return crl.x509.issuer.rfc4514_string()[:120]
    except Exception:
        return "an unreadable issuer"
