"""Large payloads confidential between organisations (docs/ENVELOPE.md §7.4, ADR 0004).

Three keys, each used for one thing:

* the **content key** ``K`` (32 random bytes per uploaded payload): chunk ``i`` is
  ``AES-256-GCM(K, nonce = i as 96-bit big-endian, aad = "docbus/blob-chunk/v2\\n" ‖ H ‖ i)``, ``H``
  the plaintext's SHA-256. A content key encrypts one payload only, so the index is a safe nonce;
  the aad binds each chunk to its content and place.
* the **document key** ``D`` (32 random bytes per envelope): every content key of the envelope is
  wrapped under it (AES key wrap, RFC 3394), so an envelope with 20 large attachments still
  carries one wrap per recipient.
* the **key-encryption key** per recipient: ECDH on P-256 between the envelope's ephemeral key and
  the recipient's encryption certificate, HKDF-SHA256 with an info naming the message id, the
  recipient code and the certificate (the shape of CMS KeyAgreeRecipientInfo, RFC 5652/5753); it
  wraps ``D``.

Pure and small: every failure is a ContractError with a stable reason (KEY_MISSING, KEY_INVALID,
BLOB_UNDECRYPTABLE), never a cryptography exception.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.errors import ContractError
from schemas.reasons import Reason

__all__ = [
    "KEY_BYTES",
    "TAG_BYTES",
    "WRAPPED_BYTES",
    "AgreementKey",
    "blob_id",
    "certificate_fingerprint",
    "decrypt_chunk",
    "encrypt_chunk",
    "encryption_public_key",
    "ephemeral_point",
    "new_ephemeral",
    "unwrap_content_key",
    "unwrap_document_key",
    "wrap_content_key",
    "wrap_document_key",
]

KEY_BYTES = 32  # AES-256
TAG_BYTES = 16  # a GCM tag: every ciphertext chunk is this much longer than its plaintext
WRAPPED_BYTES = KEY_BYTES + 8  # RFC 3394 output for a 32-byte key
CHUNK_AAD = b"docbus/blob-chunk/v2\n"
BLOB_ID_INFO = b"docbus/blob-id/v1\n"
KEY_WRAP_INFO = b"docbus/key-wrap/v1\n"
_U32 = struct.Struct(">I").pack
_I64 = struct.Struct(">q").pack


def _str(value: str) -> bytes:
    raw = value.encode("utf-8")
    return _U32(len(raw)) + raw


def blob_id(content_key: bytes) -> bytes:
    """The chunk records' id (and Kafka key): HKDF of the content key, so a reader of docbus.blobs
    learns neither the content's SHA-256 nor anything that confirms a guess of the content."""
    return HKDF(hashes.SHA256(), 32, salt=None, info=BLOB_ID_INFO).derive(content_key)


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def _aad(content_sha256: bytes, index: int) -> bytes:
    return CHUNK_AAD + content_sha256 + _I64(index)


def encrypt_chunk(content_key: bytes, content_sha256: bytes, index: int, data: bytes) -> bytes:
    """Ciphertext ‖ tag of plaintext chunk ``index`` (deterministic: a resumed upload re-encrypts
    a chunk to the same bytes, so its signed digest still holds)."""
    return AESGCM(content_key).encrypt(_nonce(index), data, _aad(content_sha256, index))


def decrypt_chunk(content_key: bytes, content_sha256: bytes, index: int, data: bytes | memoryview) -> bytes:
    """The plaintext of chunk ``index``; BLOB_UNDECRYPTABLE when its tag does not verify."""
    try:
        return AESGCM(content_key).decrypt(_nonce(index), bytes(data), _aad(content_sha256, index))
    except InvalidTag:
        raise ContractError(
            Reason.BLOB_UNDECRYPTABLE, f"chunk {index} does not decrypt under its content key"
        ) from None


def wrap_content_key(document_key: bytes, content_key: bytes) -> bytes:
    return aes_key_wrap(document_key, content_key)


def unwrap_content_key(document_key: bytes, wrapped: bytes) -> bytes:
    """A payload's content key; KEY_INVALID when the wrap is not one made under ``document_key``."""
    try:
        return aes_key_unwrap(document_key, wrapped)
    except (InvalidUnwrap, ValueError):
        raise ContractError(Reason.KEY_INVALID, "a payload's content key does not unwrap") from None


def certificate_fingerprint(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()


def encryption_public_key(der: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 key of an encryption certificate (keyUsage keyAgreement); KEY_MISSING otherwise."""
    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except (ValueError, x509.ExtensionNotFound) as exc:
        raise ContractError(Reason.KEY_MISSING, f"not a usable encryption certificate: {exc}") from exc
    if (
        not isinstance(key, ec.EllipticCurvePublicKey)
        or key.curve.name != "secp256r1"
        or not usage.key_agreement
    ):
        raise ContractError(
            Reason.KEY_MISSING, "an encryption certificate holds a P-256 key for key agreement"
        )
    return key


class AgreementKey(Protocol):
    """A recipient's P-256 private key as far as opening a wrap needs it: ECDH with a peer's point.
    A key file's ``ec.EllipticCurvePrivateKey`` is one; a token's (producers/pkcs11_key.py) computes
    the shared secret inside the token."""

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes: ...


def new_ephemeral() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ephemeral_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _kek(shared: bytes, ephemeral: bytes, message_id: str, recipient: str, certificate: bytes) -> bytes:
    info = KEY_WRAP_INFO + _str(message_id) + _str(recipient) + _U32(32) + certificate + _U32(65) + ephemeral
    return HKDF(hashes.SHA256(), KEY_BYTES, salt=None, info=info).derive(shared)


def wrap_document_key(
    document_key: bytes,
    ephemeral: ec.EllipticCurvePrivateKey,
    certificate_der: bytes,
    message_id: str,
    recipient: str,
) -> bytes:
    """``document_key`` wrapped for the holder of ``certificate_der`` (KEY_MISSING: not an
    encryption certificate)."""
    shared = ephemeral.exchange(ec.ECDH(), encryption_public_key(certificate_der))
    kek = _kek(
        shared, ephemeral_point(ephemeral), message_id, recipient, certificate_fingerprint(certificate_der)
    )
    return aes_key_wrap(kek, document_key)


def unwrap_document_key(
    wrapped: bytes,
    private_key: AgreementKey,
    ephemeral: bytes,
    certificate: bytes,
    message_id: str,
    recipient: str,
) -> bytes:
    """The document key from a recipient's wrap; KEY_INVALID when it does not open under the
    recipient's private key (another key, a tampered wrap or ephemeral point)."""
    try:
        point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ephemeral)
        shared = private_key.exchange(ec.ECDH(), point)
        return aes_key_unwrap(_kek(shared, ephemeral, message_id, recipient, certificate), wrapped)
    except (InvalidUnwrap, ValueError):
        raise ContractError(
            Reason.KEY_INVALID, f"the document key wrapped for {recipient} does not open"
        ) from None
