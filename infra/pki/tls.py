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
from infra.pki.index import Entry, Index
from infra.pki.keys import KeyType, ca_hash_algorithm, generate_key
from schemas.connection import TlsPaths

__all__ = [
    "Reissued",
    "RevocationGap",
    "TlsFiles",
    "describe_gaps",
    "issue_tls",
    "reissue_tls",
    "revocation_gaps",
    "stale_crls",
    "tls_files",
]


@dataclass(frozen=True)
class TlsFiles:
    """Where one TLS identity lives on disk; ``ca`` is the PKI's root certificate."""

    cert: Path
    key: Path
    bundle: Path
    ca: Path

    @property
    def folder(self) -> Path:
        """The PKI folder these files are in (the layout of :func:`tls_files`)."""
        return self.ca.parent.parent

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
    builder = builder.add_extension(
        profiles.crl_distribution_points(_crl_uri(authority.folder)), critical=False
    )
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
    _record_login(authority, files, cert, server=server)
    return files


def _record_login(authority: Authority, files: TlsFiles, cert: x509.Certificate, *, server: bool) -> None:
    """The PKI index's entry for the TLS login ``cert`` stored at ``files`` (named by its folder)."""
    name = files.cert.parent.name
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


def _crl_uri(pki: Path, ca: str = "issuing") -> str:
    """The distribution point a certificate issued by ``ca`` names: this PKI folder's CRL of it."""
    return (Path(pki) / "crl" / f"{ca}.crl.pem").resolve().as_uri()


# --- CRL distribution points: the TLS material of a PKI folder made before the broker checked CRLs


@dataclass(frozen=True)
class RevocationGap:
    """A certificate in ``path`` a CRL-checking broker cannot check: it names the CRLs ``named``
    (none: issued before the broker checked CRLs; others: the folder moved), not ``wanted``."""

    path: Path
    subject: x509.Name
    named: tuple[str, ...]
    wanted: str

    @property
    def common_name(self) -> str:
        cn = self.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return f"CN={cn[0].value!s}" if cn else self.subject.rfc4514_string()

    @property
    def problem(self) -> str:
        if not self.named:
            return "names no CRL"
        return f"names the CRL {', '.join(self.named)}, not {self.wanted}"

    def __str__(self) -> str:
        return f"{self.path}: {self.common_name}: {self.problem}"


def describe_gaps(gaps: list[RevocationGap], pki: Path) -> list[str]:
    """One line per file of ``pki``: which of its certificates name no (or another folder's) CRL."""
    by_file: dict[Path, list[RevocationGap]] = {}
    for gap in gaps:
        by_file.setdefault(gap.path, []).append(gap)
    lines = []
    for path, held in by_file.items():
        where = path.relative_to(pki) if path.is_relative_to(pki) else path
        problems = sorted({g.problem for g in held})
        lines.append(f"{where}: {', '.join(g.common_name for g in held)}: {'; '.join(problems)}")
    return lines


def revocation_gaps(pki: Path) -> list[RevocationGap]:
    """What of ``pki``'s TLS material a broker checking CRLs (infra/broker.py, ``TLS_REVOCATION``)
    would refuse at every handshake, the certificates of a folder made before the TLS certificates
    and the issuing CA named a CRL: the issuing CA (``ca/issuing.pem``) and every certificate
    below the root in each live login's ``tls/<name>/cert.pem`` (the leaf and the issuing CA copy a
    client presents) and ``bundle.pem`` (the broker's keystore) must name this folder's CRL of
    their issuer. A moved folder fails the same way: its certificates name the old place.
    Revoked and expired logins are left out: the broker refuses them anyway, as it should."""
    pki = Path(pki)
    gaps = _gaps(pki / "ca" / "issuing.pem", pki)
    revoked = _revoked_serials(pki)
    for base in sorted(p for p in (pki / "tls").glob("*") if p.is_dir()):
        certs = _read_certs(base / "cert.pem")
        if (
            not certs
            or certs[0].serial_number in revoked
            or certs[0].not_valid_after_utc <= datetime.now(UTC)
        ):
            continue
        for name in ("cert.pem", "bundle.pem"):
            gaps += _gaps(base / name, pki)
    return gaps


def _gaps(path: Path, pki: Path) -> list[RevocationGap]:
    cas = {c.subject: name for name in ("root", "issuing") for c in _read_certs(pki / "ca" / f"{name}.pem")}
    out = []
    for cert in _read_certs(path):
        if cert.subject == cert.issuer:
            continue  # the root: the trust anchor, never checked for revocation
        want = _crl_uri(pki, cas.get(cert.issuer, "issuing"))
        have = tuple(profiles.crl_uris(cert))
        if want not in have:
            out.append(RevocationGap(path, cert.subject, have, want))
    return out


def stale_crls(pki: Path, *, now: datetime | None = None) -> list[str]:
    """What is wrong with the CRLs ``pki``'s certificates name (``crl/issuing.crl.pem``,
    ``crl/root.crl.pem``): missing, unreadable or past their nextUpdate. A CRL-checking broker
    refuses every handshake then (fail closed), its own controller's included."""
    when = now or datetime.now(UTC)
    out = []
    for name in ("issuing.crl.pem", "root.crl.pem"):
        path = Path(pki) / "crl" / name
        try:
            crl = x509.load_pem_x509_crl(path.read_bytes())
        except (OSError, ValueError) as exc:
            out.append(f"crl/{name}: cannot be read ({type(exc).__name__}: {exc})")
            continue
        until = crl.next_update_utc
        if until is None or until <= when:
            out.append(
                f"crl/{name}: expired (nextUpdate {until:%Y-%m-%d %H:%M}Z)"
                if until
                else f"crl/{name}: no nextUpdate"
            )
    return out


@dataclass(frozen=True)
class Reissued:
    """What :func:`reissue_tls` wrote: file -> (old serial, new serial), both hex."""

    issuing_ca: tuple[str, str] | None
    logins: dict[Path, tuple[str, str]]
    skipped: dict[Path, str]


def reissue_tls(authority: Authority, *, now: datetime | None = None) -> Reissued:
    """Certify again what :func:`revocation_gaps` finds, naming this folder's CRLs.

    The issuing CA is re-certified by the root with the **same key, subject and validity** (every
    seal, official and audit certificate it issued, every CRL it signed and every document signed
    stays valid: nothing of theirs names the CA certificate's serial). Each live TLS login of
    ``tls/`` whose certificate or chain lacks the point is re-certified the same way by the issuing
    CA: same key (a node holding its key elsewhere needs only the new ``cert.pem``; no private key
    is made or moved), same validity (renewal dates unchanged), a new serial; ``bundle.pem`` is
    rewritten where the key is in the folder, the old serial is revoked as *superseded* and the
    CRLs are published. A revoked or expired login is never re-certified (that would let a
    shut-out org back in)."""
    pki = authority.folder
    when = now or datetime.now(UTC)
    issuing: tuple[str, str] | None = None
    if _gaps(pki / "ca" / "issuing.pem", pki):
        old = authority.issuing_cert
        new = profiles.recertify(
            old, issuer_cert=authority.root_cert, issuer_key=authority.root_key, crl_uri=_crl_uri(pki, "root")
        )
        (pki / "ca" / "issuing.pem").write_bytes(new.public_bytes(serialization.Encoding.PEM))
        authority.issuing_cert = new
        issuing = (f"{old.serial_number:x}", f"{new.serial_number:x}")
    revoked = _revoked_serials(pki)
    logins: dict[Path, tuple[str, str]] = {}
    skipped: dict[Path, str] = {}
    with authority.batch():
        for base in sorted(p for p in (pki / "tls").glob("*") if p.is_dir()):
            files = tls_files(pki, base.name)
            certs = _read_certs(files.cert)
            if not certs:
                continue
            leaf = certs[0]
            if leaf.serial_number in revoked:
                skipped[files.cert] = "revoked: not re-certified"
                continue
            if leaf.not_valid_after_utc <= when:
                skipped[files.cert] = "expired: issue a new one (docbus pki issue-tls)"
                continue
            if not (_gaps(files.cert, pki) or _gaps(files.bundle, pki)):
                continue
            logins[files.cert] = _recertify_login(authority, files, leaf, when)
    if logins:
        authority.publish_crl(now=when)
    return Reissued(issuing, logins, skipped)


def _recertify_login(
    authority: Authority, files: TlsFiles, leaf: x509.Certificate, when: datetime
) -> tuple[str, str]:
    issuer = authority.issuing_cert
    cert = profiles.recertify(
        leaf, issuer_cert=issuer, issuer_key=authority.issuing_key, crl_uri=_crl_uri(authority.folder)
    )
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, issuer))
    files.cert.write_bytes(chain)
    if files.key.exists():
        _write_secret(files.bundle, files.key.read_bytes() + chain)
    old_serial = f"{leaf.serial_number:x}"
    for e in authority.index.entries:
        if e.serial == old_serial and e.revoked_at is None:
            e.revoked_at, e.revocation_reason = when.isoformat(), x509.ReasonFlags.superseded.value
    ekus = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    _record_login(authority, files, cert, server=ExtendedKeyUsageOID.SERVER_AUTH in ekus)
    return old_serial, f"{cert.serial_number:x}"


def _read_certs(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return x509.load_pem_x509_certificates(data) if b"-----BEGIN CERTIFICATE-----" in data else []


def _revoked_serials(pki: Path) -> set[int]:
    try:
        index = Index(Path(pki) / "index.json")
    except FileNotFoundError:
        return set()
    return {int(e.serial, 16) for e in index.entries if e.revoked_at is not None}


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
