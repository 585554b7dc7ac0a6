"""Generate the contract's golden vectors (run: ``.venv/bin/python -m tests.vectors.generate``).

Test material only: a tiny CA (root -> intermediate -> signers) made with cryptography.x509, one
official and one organisation key per algorithm, all committed under tests/vectors/keys/. Keys and
certificates are created once and reused; a signature file is rewritten only when it no longer
verifies over its signing input (RSA-PSS and ECDSA signatures are randomised), so re-running the
generator on an unchanged contract leaves the tree unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID

from schemas.algorithms import Algorithm
from schemas.canonical import envelope_signing_input, receipt_signing_input
from schemas.codec import encode
from schemas.document import SecurityLevel
from schemas.envelope import Envelope
from schemas.payload import Payload
from schemas.receipt import Receipt
from schemas.signature import Signature, SignerRole
from tests.schemas.samples import CREATED, sample_envelope, sample_receipt

HERE = Path(__file__).parent
KEYS = HERE / "keys"
OUT = HERE / "data"
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning, RFC 9336
NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2035, 1, 1, tzinfo=UTC)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SLUGS = {
    Algorithm.RSA_PKCS1V15_SHA256: "rsa-pkcs1v15",
    Algorithm.RSA_PSS_SHA256: "rsa-pss",
    Algorithm.ECDSA_P256_SHA256: "ecdsa-p256",
    Algorithm.ED25519: "ed25519",
}
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _key(name: str, algorithm: Algorithm | None) -> Any:
    path = KEYS / f"{name}.key.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key: PrivateKey
    if algorithm in (Algorithm.RSA_PKCS1V15_SHA256, Algorithm.RSA_PSS_SHA256):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm is Algorithm.ED25519:
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return key


def _name(common: str, org_code: str | None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org_code is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bộ Giáo dục và Đào tạo"))
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, org_code))
    return x509.Name(attrs)


def _cert(
    name: str,
    subject: x509.Name,
    key: Any,
    issuer: x509.Certificate | None,
    issuer_key: Any,
    serial: int,
    ca: bool,
) -> x509.Certificate:
    path = KEYS / f"{name}.cert.pem"
    if path.exists():
        return x509.load_pem_x509_certificate(path.read_bytes())
    usage = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    usage.update(
        {"key_cert_sign": ca, "crl_sign": ca, "digital_signature": not ca, "content_commitment": not ca}
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert


def sign(algorithm: Algorithm, key: Any, data: bytes) -> bytes:
    if algorithm is Algorithm.RSA_PKCS1V15_SHA256:
        return bytes(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    if algorithm is Algorithm.RSA_PSS_SHA256:
        return bytes(key.sign(data, PSS, hashes.SHA256()))
    if algorithm is Algorithm.ECDSA_P256_SHA256:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return encode_dss_signature(r, min(s, P256_ORDER - s))  # low-S, as the contract requires
    return bytes(key.sign(data))


def verify(algorithm: str, public_key: Any, signature: bytes, data: bytes) -> None:
    """Plain cryptography verification; raises cryptography's InvalidSignature (or ValueError)."""
    if algorithm == Algorithm.RSA_PKCS1V15_SHA256:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    elif algorithm == Algorithm.RSA_PSS_SHA256:
        public_key.verify(signature, data, PSS, hashes.SHA256())
    elif algorithm == Algorithm.ECDSA_P256_SHA256:
        if decode_dss_signature(signature)[1] > P256_ORDER // 2:
            raise ValueError("high-S ECDSA signature")
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    elif algorithm == Algorithm.ED25519:
        public_key.verify(signature, data)
    else:
        raise ValueError(f"unknown algorithm {algorithm}")


class Pki:
    """The vector CA and, per algorithm, an official and an organisation signer."""

    def __init__(self) -> None:
        KEYS.mkdir(exist_ok=True)
        root_key = _key("root-ca", Algorithm.ECDSA_P256_SHA256)
        self.root = _cert("root-ca", _name("docbus test root CA", None), root_key, None, root_key, 1, True)
        inter_key = _key("intermediate-ca", Algorithm.ECDSA_P256_SHA256)
        self.intermediate = _cert(
            "intermediate-ca", _name("docbus test issuing CA", None), inter_key, self.root, root_key, 2, True
        )
        self.signers: dict[tuple[Algorithm, SignerRole], tuple[Any, x509.Certificate]] = {}
        serial = 100
        for algorithm, slug in SLUGS.items():
            for role, common in (
                (SignerRole.OFFICIAL, "Nguyễn Văn A"),
                (SignerRole.ORGANIZATION, "Bộ GD&ĐT"),
            ):
                name = f"{slug}-{role.value}"
                key = _key(name, algorithm)
                cert = _cert(name, _name(common, "G03"), key, self.intermediate, inter_key, serial, False)
                (KEYS / f"{name}.pub.pem").write_bytes(
                    key.public_key().public_bytes(
                        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                    )
                )
                self.signers[(algorithm, role)] = (key, cert)
                serial += 1

    def chain(self, algorithm: Algorithm, role: SignerRole) -> list[bytes]:
        leaf = self.signers[(algorithm, role)][1]
        return [c.public_bytes(serialization.Encoding.DER) for c in (leaf, self.intermediate)]


def _signature(pki: Pki, algorithm: Algorithm, role: SignerRole, data: bytes, reuse: Path) -> Signature:
    key, cert = pki.signers[(algorithm, role)]
    value = reuse.read_bytes() if reuse.exists() else b""
    try:
        verify(algorithm, cert.public_key(), value, data)
    except Exception:
        value = sign(algorithm, key, data)
    reuse.write_bytes(value)
    return Signature(
        role=role, algorithm=algorithm, chain=pki.chain(algorithm, role), signing_time=CREATED, value=value
    )


def _signed(
    pki: Pki, name: str, env: Envelope, algorithm: Algorithm
) -> tuple[Envelope, list[dict[str, str]]]:
    data = envelope_signing_input(env)
    (OUT / f"{name}.input.bin").write_bytes(data)
    sigs, listed = [], []
    for role in (SignerRole.OFFICIAL, SignerRole.ORGANIZATION):
        sig_file = OUT / f"{name}.{role.value}.sig"
        sigs.append(_signature(pki, algorithm, role, data, sig_file))
        listed.append(
            {
                "role": role.value,
                "signature": sig_file.name,
                "public_key": f"../keys/{SLUGS[algorithm]}-{role.value}.pub.pem",
            }
        )
    return env.model_copy(update={"signatures": sigs}), listed


def _entry(
    name: str,
    raw: bytes,
    expect: str,
    note: str,
    algorithm: Algorithm | None = None,
    signatures: list[dict[str, str]] | None = None,
    kind: str = "envelope",
) -> dict[str, Any]:
    (OUT / f"{name}.bin").write_bytes(raw)
    entry: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "file": f"{name}.bin",
        "expect": expect,
        "note": note,
    }
    if algorithm is not None:
        entry["algorithm"] = algorithm.value
    if signatures is not None:  # signing input and detached signatures, for openssl
        entry |= {"input": f"{name}.input.bin", "signatures": signatures}
    return entry


def generate() -> list[dict[str, Any]]:
    OUT.mkdir(exist_ok=True)
    pki = Pki()
    entries = []
    for algorithm, slug in SLUGS.items():
        env, listed = _signed(pki, f"valid-{slug}", sample_envelope(), algorithm)
        entries.append(
            _entry(
                f"valid-{slug}",
                encode(env),
                "VALID",
                f"official + organisation, {algorithm}",
                algorithm,
                listed,
            )
        )
    base, _ = _signed(pki, "tamper-base", sample_envelope(), Algorithm.ECDSA_P256_SHA256)
    ecdsa = Algorithm.ECDSA_P256_SHA256
    changed = base.document.model_copy(update={"subject": "V/v nội dung đã bị sửa"})
    entries.append(
        _entry(
            "tampered-header",
            encode(base.model_copy(update={"document": changed})),
            "SIGNATURE_INVALID",
            "subject changed after signing",
            ecdsa,
        )
    )
    swapped = base.payload.model_copy(update={"data": b"%PDF-1.7\n% forged body\n"})
    entries.append(
        _entry(
            "tampered-payload",
            encode(base.model_copy(update={"payload": swapped})),
            "DIGEST_MISMATCH",
            "payload bytes changed, descriptor kept",
            ecdsa,
        )
    )
    forged = Payload.of("cong-van-1234.pdf", "application/pdf", b"%PDF-1.7\n% forged body\n")
    entries.append(
        _entry(
            "substituted-payload",
            encode(base.model_copy(update={"payload": forged})),
            "SIGNATURE_INVALID",
            "payload and its descriptor replaced after signing",
            ecdsa,
        )
    )
    wrong = sample_envelope(payload=base.payload.model_copy(update={"sha256": bytes(32)}))
    wrong_env, wrong_listed = _signed(pki, "wrong-digest", wrong, ecdsa)
    entries.append(
        _entry(
            "wrong-digest",
            encode(wrong_env),
            "DIGEST_MISMATCH",
            "signed descriptor carries a SHA-256 that is not the payload's",
            ecdsa,
            wrong_listed,
        )
    )
    bad_sig = base.signatures[1].model_copy(update={"value": base.signatures[1].value[:-1] + b"\x00"})
    entries.append(
        _entry(
            "tampered-signature",
            encode(base.model_copy(update={"signatures": [base.signatures[0], bad_sig]})),
            "SIGNATURE_INVALID",
            "last byte of the organisation signature changed",
            ecdsa,
        )
    )
    raw = encode(base)
    entries.append(_entry("truncated", raw[: len(raw) // 2], "MALFORMED", "first half of a valid envelope"))
    entries.append(_entry("bad-marker", b"\xc3\x02" + raw[2:], "MALFORMED", "wrong single-object marker"))
    entries.append(
        _entry("unknown-schema", raw[:2] + bytes(8) + raw[10:], "UNKNOWN_SCHEMA", "fingerprint zeroed")
    )
    secret = sample_envelope(
        document=base.document.model_copy(update={"security_level": SecurityLevel.SECRET})
    )
    entries.append(_entry("secret", encode(secret), "SECRET_REFUSED", "security level 'secret' (mật)"))
    long_chain = base.signatures[0].model_copy(update={"chain": base.signatures[0].chain * 3})
    entries.append(
        _entry(
            "chain-too-long",
            encode(base.model_copy(update={"signatures": [long_chain, base.signatures[1]]})),
            "CHAIN_TOO_LONG",
            "official chain of 6 certificates (limit 4)",
        )
    )
    entries.append(_receipt(pki))
    manifest = {
        "about": "docbus contract vectors; regenerate with: python -m tests.vectors.generate",
        "vectors": entries,
    }
    (OUT / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return entries


def _receipt(pki: Pki) -> dict[str, Any]:
    receipt: Receipt = sample_receipt()
    data = receipt_signing_input(receipt)
    (OUT / "receipt-rsa-pss.input.bin").write_bytes(data)
    sig_file = OUT / "receipt-rsa-pss.organization.sig"
    sig = _signature(pki, Algorithm.RSA_PSS_SHA256, SignerRole.ORGANIZATION, data, sig_file)
    raw = encode(receipt.model_copy(update={"signatures": [sig]}))
    listed = [
        {
            "role": "organization",
            "signature": sig_file.name,
            "public_key": "../keys/rsa-pss-organization.pub.pem",
        }
    ]
    return _entry(
        "receipt-rsa-pss",
        raw,
        "VALID",
        "status 01 receipt sealed by the organisation",
        Algorithm.RSA_PSS_SHA256,
        listed,
        kind="receipt",
    )


if __name__ == "__main__":
    for item in generate():
        print(f"{item['name']:24} {item['expect']}")
