"""Transport (TLS) certificates from the ministry PKI, for mTLS to the Kafka broker.

Kept apart from the document-signing profiles on purpose: a seal or official certificate carries
keyUsage digitalSignature + nonRepudiation and the documentSigning EKU, which Java's TLS stack
rejects for client authentication (and which must never double as a login). A TLS certificate has
the subject ``CN=<name>`` only — the broker maps that CN to the Kafka principal ``User:<name>``
(docs/SECURITY.md) — keyUsage digitalSignature (+ keyEncipherment for RSA keys), the clientAuth
EKU (+ serverAuth and loopback SANs for the broker) and no document-signing policy.

Layout under the PKI folder::

    tls/<name>/cert.pem    leaf + issuing CA
    tls/<name>/key.pem     PKCS#8, unencrypted, mode 0600 (see docs/SECURITY.md, "Keys")
    tls/<name>/bundle.pem  key + leaf + issuing CA: a Kafka PEM keystore (ssl.keystore.type=PEM)
    ca/root.pem            the trust anchor both sides verify against
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from infra.pki import profiles
from infra.pki.authority import Authority
from infra.pki.index import Entry
from infra.pki.keys import KeyType, ca_hash_algorithm, generate_key
from schemas.connection import TlsPaths

__all__ = ["TlsFiles", "issue_tls", "tls_files"]


@dataclass(frozen=True)
class TlsFiles:
    """Where one TLS identity lives on disk; ``ca`` is the PKI's root certificate."""

    cert: Path
    key: Path
    bundle: Path
    ca: Path

    @property
    def paths(self) -> TlsPaths:
        """What a Kafka client presents (schemas.connection.KafkaConnection)."""
        return TlsPaths(cert=self.cert, key=self.key, ca=self.ca)


def tls_files(pki: Path, name: str) -> TlsFiles:
    base = Path(pki) / "tls" / name
    return TlsFiles(base / "cert.pem", base / "key.pem", base / "bundle.pem", Path(pki) / "ca/root.pem")


def issue_tls(
    authority: Authority,
    name: str,
    *,
    server: bool = False,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
    key_type: KeyType = KeyType.P256,
    days: int = 365,
    now: datetime | None = None,
) -> TlsFiles:
    """Issue a TLS certificate for ``name`` (an org code, ``docbus-processor``, ``docbus-broker``…).

    ``server=True`` adds serverAuth and SANs for ``hosts`` (the broker's listener)."""
    if not name or "," in name or "=" in name:
        raise ValueError(f"{name!r} cannot be a TLS name: it becomes CN=<name> and the Kafka principal")
    key = generate_key(key_type)
    start = (now or datetime.now(UTC)) - timedelta(minutes=10)
    issuer = authority.issuing_cert
    ekus = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_tls_key_usage(rsa_key=isinstance(key, rsa.RSAPrivateKey)), critical=True)
        .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
    )
    # where the broker's JVM reads this certificate's revocation status at every handshake
    crl = (authority.folder / "crl" / "issuing.crl.pem").resolve().as_uri()
    builder = builder.add_extension(profiles.crl_distribution_points(crl), critical=False)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(_sans(hosts)), critical=False)
    cert = builder.sign(authority.issuing_key, ca_hash_algorithm(authority.issuing_key))

    files = tls_files(authority.folder, name)
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, issuer))
    # Unencrypted PKCS#8: Kafka's PEM keystore cannot read every PBES2 scheme, and a password kept
    # beside the key in server.properties would protect nothing. The file mode is the protection.
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    files.cert.parent.mkdir(parents=True, exist_ok=True)
    files.cert.write_bytes(chain)
    _write_secret(files.key, key_pem)
    _write_secret(files.bundle, key_pem + chain)
    authority.index.add(
        Entry(
            serial=f"{cert.serial_number:x}",
            kind="tls",
            code=name,
            name=name,
            position="server" if server else None,
            not_before=cert.not_valid_before_utc.isoformat(),
            not_after=cert.not_valid_after_utc.isoformat(),
            path=str(files.cert.relative_to(authority.folder)),
        )
    )
    return files


def _sans(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for host in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def _tls_key_usage(*, rsa_key: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=rsa_key,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)  # an existing file keeps its old mode through O_CREAT
        f.write(data)
