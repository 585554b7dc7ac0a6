"""A node's identity: its org code, its seal key, one official's key, its encryption key, loaded
from the PKI folder.

The folder layout is infra/pki's (docs/TRUST.md, "PKI folder"): ``issued/<CODE>/org.pem`` +
``org.key.pem`` for the seal, ``issued/<CODE>/officials/<slug>.pem`` + ``.key.pem`` for officials
(an official of a sub-unit, ``issued/<CODE>.<unit>/officials/``, may sign for ``CODE`` too).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from producers.keys import FileKeyProvider, KeyProvider, SigningError
from schemas.blob_crypto import AgreementKey
from schemas.header import Organization
from schemas.orgcode import canonical_org_code

__all__ = ["EncryptionKey", "NodeIdentity", "official_slug"]

logger = logging.getLogger(__name__)


def official_slug(name: str) -> str:
    """The PKI's file name for an official (same rule as infra.pki.authority)."""
    flat = unicodedata.normalize("NFKD", name.replace("Đ", "D").replace("đ", "d"))
    ascii_name = flat.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "official"


def _subject(chain: list[bytes], oid: x509.ObjectIdentifier) -> str:
    leaf = x509.load_der_x509_certificate(chain[0])
    values = leaf.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


@dataclass(frozen=True)
class EncryptionKey:
    """An organisation's key agreement key and its certificate: a key file
    (``issued/<CODE>/encryption.key.pem``) or a key on a PKCS#11 token
    (producers/pkcs11_key.py, ``token_encryption_key``), which computes the ECDH inside."""

    key: AgreementKey
    certificate: bytes  # DER, as the directory entry lists it

    @classmethod
    def bound(cls, key: AgreementKey, public_key: object, cert_path: Path) -> EncryptionKey:
        """``key`` with the certificate of ``cert_path``, which must certify ``public_key`` (a key
        that does not match its certificate would refuse every encrypted document as KEY_INVALID)."""
        try:
            cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
        except (ValueError, OSError) as exc:
            raise SigningError(f"cannot load {cert_path}: {exc}") from None
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or cert.public_key() != public_key:
            raise SigningError(
                f"{cert_path} does not certify this encryption key (another key's certificate)"
            )
        return cls(key, cert.public_bytes(serialization.Encoding.DER))

    @classmethod
    def from_pem(cls, key_path: Path, cert_path: Path, passphrase: bytes | None) -> EncryptionKey:
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), passphrase)
        except (ValueError, TypeError, OSError) as exc:
            raise SigningError(f"cannot load {key_path}: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SigningError(f"{key_path}: an encryption key is P-256, not {type(key).__name__}")
        return cls.bound(key, key.public_key(), cert_path)

    @classmethod
    def from_pki(cls, pki_dir: Path, org_code: str, passphrase: bytes | None) -> EncryptionKey | None:
        """``issued/<CODE>/encryption.key.pem`` of the PKI folder; None when the org has none."""
        folder = Path(pki_dir) / "issued" / canonical_org_code(org_code)
        if not (folder / "encryption.key.pem").is_file():
            return None
        return cls.from_pem(folder / "encryption.key.pem", folder / "encryption.pem", passphrase)


@dataclass(frozen=True)
class NodeIdentity:
    """Who a node is and how it signs. ``official`` is None for a seal-only node (receipts only)."""

    org_code: str  # dotted form
    seal: KeyProvider
    official: KeyProvider | None = None
    # the org's encryption key and certificate (DER): opens large payloads' keys (ENVELOPE.md §7.4)
    encryption: EncryptionKey | None = None

    @property
    def org_name(self) -> str:
        """The seal certificate's common name (the organisation's name as certified)."""
        return _subject(self.seal.chain, NameOID.COMMON_NAME) or self.org_code

    @property
    def official_name(self) -> str:
        return "" if self.official is None else _subject(self.official.chain, NameOID.COMMON_NAME)

    @property
    def official_position(self) -> str:
        return "" if self.official is None else _subject(self.official.chain, NameOID.TITLE)

    def organization(self, name: str | None = None, **contact: str) -> Organization:
        """The envelope's sender block under ``name`` (the directory's; None: the certificate's);
        ``contact`` fills in_charge, address, email, phone, website."""
        return Organization(code=self.org_code, name=name or self.org_name, **contact)

    def require_official(self) -> KeyProvider:
        if self.official is None:
            raise SigningError(f"{self.org_code}: no official key loaded, a document cannot be signed")
        return self.official

    @classmethod
    def from_pki(
        cls,
        pki_dir: Path,
        org_code: str,
        passphrase: str,
        official: str | None = None,
        *,
        encryption: bool = True,
    ) -> NodeIdentity:
        """Load the seal of ``org_code`` and, when ``official`` is given (a name or its slug; "*"
        for the only/first official found), that official's key; with ``encryption``, the
        encryption key file if the org has one (not when its key is on a token). Raises SigningError."""
        code = canonical_org_code(org_code)
        root = Path(pki_dir) / "issued"
        secret = passphrase.encode()
        seal = FileKeyProvider.from_pem(root / code / "org.key.pem", root / code / "org.pem", secret)
        signer = None
        if official is not None:
            cert = _find_official(root, code, official)
            signer = FileKeyProvider.from_pem(cert.with_name(cert.stem + ".key.pem"), cert, secret)
        key = EncryptionKey.from_pki(pki_dir, code, secret) if encryption else None
        return cls(code, seal, signer, key)


def _find_official(root: Path, code: str, official: str) -> Path:
    """An official's certificate under the org or one of its dotted sub-units, own org first."""
    folders = [root / code / "officials", *sorted(root.glob(f"{code}.*/officials"))]
    certs = [p for f in folders for p in sorted(f.glob("*.pem")) if not p.name.endswith(".key.pem")]
    if official != "*":
        wanted = official_slug(official)
        certs = [p for p in certs if p.stem == wanted]
    if not certs:
        raise SigningError(f"no official {official!r} for {code} under {root}")
    return certs[0]
