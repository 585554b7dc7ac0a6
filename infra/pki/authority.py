"""The ministry PKI on disk: a root CA, an issuing CA, issued certificates, revocations, CRLs.

Layout of a PKI folder (docs/TRUST.md, "PKI folder")::

    ca/root.pem  ca/root.key.pem  ca/issuing.pem  ca/issuing.key.pem
    issued/<CODE>/org.pem (leaf + issuing CA)  org.key.pem  org.p12
    issued/<CODE>/encryption.pem  encryption.key.pem  (P-256, keyAgreement: docs/ENVELOPE.md §7.4)
    issued/<CODE>/officials/<slug>.pem  <slug>.key.pem
    audit/audit.pem  audit/audit.key.pem
    crl/root.crl.pem  crl/issuing.crl.pem
    index.json   (every certificate issued, its kind, code and revocation)
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes

from infra.pki import profiles
from infra.pki.crl import build_crl
from infra.pki.index import Entry, Index
from infra.pki.keys import (
    KeyType,
    PrivateKey,
    generate_key,
    load_private_key,
    write_pkcs12,
    write_private_key,
)
from infra.pki.keys import write_public as _write_certs

__all__ = ["Authority", "Issued"]

_MINISTRY_CODE = "G03"
_MINISTRY_NAME = "Bộ Giáo dục và Đào tạo"


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    chain: list[x509.Certificate]  # leaf, issuing CA, root
    key: PrivateKey | None  # None when the caller supplied only a public key (token keys)
    cert_path: Path
    key_path: Path | None
    p12_path: Path | None


class Authority:
    """Issue, revoke and publish. Keys stay encrypted on disk under ``passphrase``."""

    def __init__(self, folder: Path, passphrase: bytes) -> None:
        self.folder = Path(folder)
        self.passphrase = passphrase
        self.root_cert = x509.load_pem_x509_certificate((self.folder / "ca/root.pem").read_bytes())
        self.issuing_cert = x509.load_pem_x509_certificate((self.folder / "ca/issuing.pem").read_bytes())
        self.root_key = load_private_key(self.folder / "ca/root.key.pem", passphrase)
        self.issuing_key = load_private_key(self.folder / "ca/issuing.key.pem", passphrase)
        self.index = Index(self.folder / "index.json")

    @classmethod
    def init(
        cls,
        folder: Path,
        passphrase: bytes,
        *,
        key_type: KeyType = KeyType.P256,
        now: datetime | None = None,
    ) -> Authority:
        folder = Path(folder)
        if (folder / "ca/root.pem").exists():
            raise FileExistsError(f"{folder} already holds a PKI")
        start = (now or datetime.now(UTC)) - timedelta(hours=1)
        root_key, issuing_key = generate_key(key_type), generate_key(key_type)
        root = profiles.build_ca(
            profiles.subject_name("docbus Root CA", _MINISTRY_CODE, _MINISTRY_NAME),
            root_key,
            path_length=1,
            not_before=start,
            days=20 * 365,
        )
        issuing = profiles.build_ca(
            profiles.subject_name("docbus Issuing CA 1", _MINISTRY_CODE, _MINISTRY_NAME),
            issuing_key,
            path_length=0,
            not_before=start,
            days=10 * 365,
            issuer_cert=root,
            issuer_key=root_key,
            crl_uri=(folder / "crl" / "root.crl.pem").resolve().as_uri(),
        )
        _write_certs(folder / "ca/root.pem", [root])
        _write_certs(folder / "ca/issuing.pem", [issuing])
        write_private_key(folder / "ca/root.key.pem", root_key, passphrase)
        write_private_key(folder / "ca/issuing.key.pem", issuing_key, passphrase)
        Index.create(folder / "index.json")
        authority = cls(folder, passphrase)
        authority.publish_crl(now=now)
        return authority

    # --- issuance -----------------------------------------------------------------------------

    def issue_org(self, code: str, name: str, *, encryption: bool = True, **kw: Any) -> Issued:
        """The organisation seal certificate of ``code``; also exported as PKCS#12. With
        ``encryption`` (the default) also its encryption certificate (:meth:`issue_encryption`)."""
        subject = profiles.subject_name(name, code, name)
        issued = self._issue(
            "org", code, name, None, subject, profiles.ORGANIZATION, f"issued/{code}/org", **kw
        )
        if encryption:
            self.issue_encryption(code, name)
        return issued

    def issue_encryption(self, code: str, name: str, **kw: Any) -> Issued:
        """The organisation's encryption certificate (P-256, keyUsage keyAgreement): senders wrap
        large payloads' keys to it (ADR 0004). Listed in the org's directory entry."""
        subject = profiles.subject_name(name, code, name)
        base = f"issued/{code}/encryption"
        return self._issue(
            "encryption", code, name, None, subject, profiles.ENCRYPTION, base, key_type=KeyType.P256, **kw
        )

    def issue_official(self, code: str, name: str, position: str, **kw: Any) -> Issued:
        """A person who signs for ``code`` (or a sub-unit), in ``position``."""
        subject = profiles.subject_name(name, code, self._org_name(code), position)
        base = f"issued/{code}/officials/{_slug(name)}"
        return self._issue("official", code, name, position, subject, profiles.OFFICIAL, base, **kw)

    def issue_audit(self, code: str = _MINISTRY_CODE, name: str = "docbus audit log", **kw: Any) -> Issued:
        """The audit log's checkpoint key: its own EKU and policy, never a document signer."""
        subject = profiles.subject_name(name, code, _MINISTRY_NAME)
        return self._issue("audit", code, name, None, subject, profiles.AUDIT, "audit/audit", **kw)

    def _issue(
        self,
        kind: str,
        code: str,
        name: str,
        position: str | None,
        subject: x509.Name,
        profile: profiles.Profile,
        base: str,
        *,
        key_type: KeyType = KeyType.P256,
        public_key: CertificateIssuerPublicKeyTypes | None = None,
        not_before: datetime | None = None,
        days: int = 730,
        pkcs12: bool | None = None,
    ) -> Issued:
        key: PrivateKey | None = None
        if public_key is None:
            key = generate_key(key_type)
            public_key = key.public_key()
        start = not_before or datetime.now(UTC) - timedelta(minutes=10)
        cert = profiles.build_leaf(
            subject,
            public_key,
            profile,
            issuer_cert=self.issuing_cert,
            issuer_key=self.issuing_key,
            not_before=start,
            days=days,
        )
        chain = [cert, self.issuing_cert, self.root_cert]
        cert_path = self.folder / f"{base}.pem"
        _write_certs(cert_path, chain[:2])
        key_path = p12_path = None
        if key is not None:
            key_path = self.folder / f"{base}.key.pem"
            write_private_key(key_path, key, self.passphrase)
            if kind == "org" if pkcs12 is None else pkcs12:
                p12_path = self.folder / f"{base}.p12"
                write_pkcs12(p12_path, f"{code} {name}", key, cert, chain[1:], self.passphrase)
        self.index.add(
            Entry(
                serial=f"{cert.serial_number:x}",
                kind=kind,
                code=code,
                name=name,
                position=position,
                not_before=cert.not_valid_before_utc.isoformat(),
                not_after=cert.not_valid_after_utc.isoformat(),
                path=str(cert_path.relative_to(self.folder)),
            )
        )
        return Issued(cert, chain, key, cert_path, key_path, p12_path)

    # --- revocation ---------------------------------------------------------------------------

    def revoke(
        self,
        target: str,
        reason: x509.ReasonFlags = x509.ReasonFlags.unspecified,
        *,
        at: datetime | None = None,
        publish: bool = True,
    ) -> list[Entry]:
        """Revoke a certificate by serial (hex), or every live certificate of an org code
        (seal, officials of that exact code, audit). Publishes a fresh CRL unless told not to."""
        when = at or datetime.now(UTC)
        hits = self.index.live(target)
        if not hits:
            raise KeyError(f"no live certificate with serial or code {target!r}")
        for e in hits:
            e.revoked_at, e.revocation_reason = when.isoformat(), reason.value
        self.index.save()
        if publish:
            self.publish_crl(now=when)
        return hits

    def publish_crl(self, *, next_update: timedelta = timedelta(days=1), now: datetime | None = None) -> Path:
        """Write fresh CRLs of both CAs (the root's lists no one unless the issuing CA is revoked)."""
        when = now or datetime.now(UTC)
        self.index.crl_number += 1
        number = self.index.crl_number
        revoked = [(int(e.serial, 16), e) for e in self.index.entries if e.revoked_at is not None]
        issuing_crl = build_crl(
            self.issuing_cert,
            self.issuing_key,
            revoked,
            number=number,
            now=when,
            next_update=next_update,
        )
        root_crl = build_crl(
            self.root_cert, self.root_key, [], number=number, now=when, next_update=next_update
        )
        crl_dir = self.folder / "crl"
        crl_dir.mkdir(parents=True, exist_ok=True)
        (crl_dir / "issuing.crl.pem").write_bytes(issuing_crl)
        (crl_dir / "root.crl.pem").write_bytes(root_crl)
        self.index.save(force=True)  # the CRL number must never be reused
        return crl_dir

    # --- reading ------------------------------------------------------------------------------

    def crls(self) -> list[bytes]:
        return [(self.folder / "crl" / n).read_bytes() for n in ("root.crl.pem", "issuing.crl.pem")]

    @property
    def entries(self) -> list[Entry]:
        return self.index.entries

    def find(self, code: str, kind: str = "org") -> Entry:
        return self.index.find(code, kind)

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Write index.json once at the end (bulk issuance of hundreds of orgs)."""
        return self.index.batch()

    def _org_name(self, code: str) -> str | None:
        """The seal holder's name for ``code`` or its nearest parent unit (G03.15.02 -> G03.15 -> G03)."""
        parts = code.split(".")
        for n in range(len(parts), 0, -1):
            with contextlib.suppress(KeyError):
                return self.find(".".join(parts[:n])).name
        return None


def _slug(name: str) -> str:
    flat = unicodedata.normalize("NFKD", name.replace("Đ", "D").replace("đ", "d"))
    ascii_name = flat.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "official"
