"""Key generation and encrypted key files for the ministry PKI.

Private keys are PKCS#8 PEM encrypted with the library's best available scheme and written
with mode 0600; organisation keys are also exported as PKCS#12 for tools that want one file.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

__all__ = [
    "KeyType",
    "PrivateKey",
    "ca_hash_algorithm",
    "generate_key",
    "load_private_key",
    "write_pkcs12",
    "write_private_key",
    "write_public",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class KeyType(StrEnum):
    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    P256 = "p256"  # the default: fast to generate, small certificates
    ED25519 = "ed25519"


def generate_key(key_type: KeyType) -> PrivateKey:
    if key_type is KeyType.RSA2048:
        return rsa.generate_private_key(65537, 2048)
    if key_type is KeyType.RSA3072:
        return rsa.generate_private_key(65537, 3072)
    if key_type is KeyType.P256:
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def ca_hash_algorithm(key: PrivateKey) -> hashes.SHA256 | None:
    """The hash a CA key signs certificates and CRLs with (Ed25519 takes none)."""
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)  # an existing file keeps its old mode through O_CREAT
        f.write(data)


def write_private_key(path: Path, key: PrivateKey, passphrase: bytes) -> None:
    if not passphrase:
        raise ValueError("a passphrase is required to write a private key")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    _write_secret(path, pem)


def load_private_key(path: Path, passphrase: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), passphrase)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"{path}: unsupported key type {type(key).__name__}")
    return key


def write_pkcs12(
    path: Path,
    name: str,
    key: PrivateKey,
    cert: x509.Certificate,
    cas: list[x509.Certificate],
    passphrase: bytes,
) -> None:
    data = pkcs12.serialize_key_and_certificates(
        name.encode(), key, cert, cas, serialization.BestAvailableEncryption(passphrase)
    )
    _write_secret(path, data)


def write_public(path: Path, certs: list[x509.Certificate]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
