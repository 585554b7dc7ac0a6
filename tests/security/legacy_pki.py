"""A PKI folder as `docbus pki init` + `issue-services` made it before the broker checked CRLs:
the issuing CA and the TLS certificates without a CRL distribution point (the same keys, subjects
and validity; only the extension is gone, as it was then; index.json lists those serials)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from infra.pki import profiles
from infra.pki.authority import Authority
from infra.pki.tls import tls_files

__all__ = ["without_crl_points"]

PEM = serialization.Encoding.PEM


def without_crl_points(authority: Authority, names: list[str]) -> None:
    """Certify ``authority``'s issuing CA and the TLS logins ``names`` again without the point."""
    issuing = profiles.recertify(
        authority.issuing_cert, issuer_cert=authority.root_cert, issuer_key=authority.root_key, crl_uri=None
    )
    (authority.folder / "ca/issuing.pem").write_bytes(issuing.public_bytes(PEM))
    authority.issuing_cert = issuing
    for name in names:
        files = tls_files(authority.folder, name)
        leaf = x509.load_pem_x509_certificates(files.cert.read_bytes())[0]
        old = profiles.recertify(leaf, issuer_cert=issuing, issuer_key=authority.issuing_key, crl_uri=None)
        chain = old.public_bytes(PEM) + issuing.public_bytes(PEM)
        files.cert.write_bytes(chain)
        files.bundle.write_bytes(files.key.read_bytes() + chain)
        for entry in authority.index.entries:
            if entry.serial == f"{leaf.serial_number:x}":
                entry.serial = f"{old.serial_number:x}"
    authority.index.save()
