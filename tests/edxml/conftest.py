"""The sample package of the e-office integration (a copy of shared/fixtures/edxml) and a key to sign with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

SAMPLE_PATH = Path(__file__).parent / "data" / "cong-van-sample.edxml"
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@pytest.fixture(scope="session")
def sample() -> bytes:
    return SAMPLE_PATH.read_bytes()


def self_signed(key: Key, name: str) -> x509.Certificate:
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    )
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="session")
def rsa_signer() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(65537, 2048)
    return key, self_signed(key, "Cục Công nghệ thông tin")


@pytest.fixture(scope="session")
def ec_signer() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, self_signed(key, "Sở GD&ĐT Hà Nội")
