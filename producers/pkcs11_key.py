"""PKCS#11 token keys (officials' USB tokens, an org's HSM), through python-pkcs11; tested
against SoftHSM2.

The token signs RSA PKCS#1 v1.5 / PSS with SHA-256 inside; for ECDSA we hash here and ask for
raw CKM_ECDSA (every token has it), then turn the token's ``r || s`` into DER, low-S.

An org's encryption key (P-256, key agreement: docs/adr/0004) may live on a token too
(:class:`Pkcs11AgreementKey`): the token computes the ECDH shared secret with an envelope's
ephemeral point (CKM_ECDH1_DERIVE, no KDF: the one form every token with EC keys has), and docbus
derives the key-encryption key from it (HKDF-SHA256) and unwraps the document key, exactly as
for a key file (schemas/blob_crypto.py). The private key never leaves the token; the shared
secret of one envelope does, as a session object that is never stored.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pkcs11
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import KDF, MGF, Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.types import DeriveMixin, SignMixin
from pkcs11.util.ec import encode_ec_public_key

from producers.identity import EncryptionKey
from producers.keys import SigningError, bind_chain
from schemas.algorithms import Algorithm, raw_to_der

__all__ = ["Pkcs11AgreementKey", "Pkcs11KeyProvider", "token_encryption_key", "token_public_key"]

logger = logging.getLogger(__name__)

_PSS_PARAMS = (Mechanism.SHA256, MGF.SHA256, 32)


def token_public_key(session: Any, label: str) -> Any:
    """The ``cryptography`` public key of the token key labelled ``label`` (to issue its certificate)."""
    pub = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=label)
    if pub.key_type == KeyType.RSA:
        n = int.from_bytes(pub[Attribute.MODULUS], "big")
        e = int.from_bytes(pub[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if pub.key_type == KeyType.EC:
        return serialization.load_der_public_key(encode_ec_public_key(pub))
    raise SigningError(f"token key {label!r} is neither RSA nor EC")


class _TokenSession:
    """One logged-in session on a token, closed by :meth:`close` or on leaving a ``with`` block."""

    def __init__(self, module: str | Path, token_label: str, pin: str) -> None:
        try:
            token = pkcs11.lib(str(module)).get_token(token_label=token_label)
            self._session = token.open(user_pin=pin)
        except pkcs11.PKCS11Error as exc:
            raise SigningError(f"token {token_label!r}: {type(exc).__name__} {exc}") from None

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Pkcs11KeyProvider(_TokenSession):
    """A private key that never leaves the token. Opens one session; use as a context manager."""

    def __init__(
        self,
        module: str | Path,
        token_label: str,
        pin: str,
        key_label: str,
        chain: Sequence[x509.Certificate | bytes],
        algorithm: Algorithm | None = None,
    ) -> None:
        super().__init__(module, token_label, pin)
        try:
            key = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=key_label)
            if not isinstance(key, SignMixin):
                raise SigningError(f"token object {key_label!r} cannot sign")
            self._key = key
            public_key = token_public_key(self._session, key_label)
            self._chain, self._algorithm = bind_chain(chain, public_key, algorithm)
        except pkcs11.PKCS11Error as exc:
            self._session.close()
            raise SigningError(f"token key {key_label!r}: {type(exc).__name__} {exc}") from None
        except SigningError:
            self._session.close()
            raise

    @property
    def algorithm(self) -> Algorithm:
        return self._algorithm

    @property
    def chain(self) -> list[bytes]:
        return list(self._chain)

    def sign(self, data: bytes) -> bytes:
        try:
            if self._algorithm is Algorithm.RSA_PKCS1V15_SHA256:
                return bytes(self._key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))
            if self._algorithm is Algorithm.RSA_PSS_SHA256:
                return bytes(
                    self._key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS_PSS, mechanism_param=_PSS_PARAMS)
                )
            raw = self._key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
            return raw_to_der(bytes(raw))
        except (pkcs11.PKCS11Error, ValueError) as exc:
            raise SigningError(f"token refused to sign: {type(exc).__name__} {exc}") from None


class Pkcs11AgreementKey(_TokenSession):
    """An org's encryption (ECDH P-256) private key that never leaves the token: it satisfies
    ``schemas.blob_crypto.AgreementKey``. Opens one session; use as a context manager."""

    def __init__(self, module: str | Path, token_label: str, pin: str, key_label: str) -> None:
        super().__init__(module, token_label, pin)
        try:
            key = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=key_label)
            public_key = token_public_key(self._session, key_label)
            if key.key_type != KeyType.EC or not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise SigningError(
                    f"token key {key_label!r}: an encryption key is P-256 EC, not {key.key_type}"
                )
            if public_key.curve.name != "secp256r1" or not isinstance(key, DeriveMixin):
                raise SigningError(f"token key {key_label!r} is not a P-256 key that may derive (CKA_DERIVE)")
            self._key, self.public_key = key, public_key
        except pkcs11.PKCS11Error as exc:
            self._session.close()
            raise SigningError(f"token key {key_label!r}: {type(exc).__name__} {exc}") from None
        except SigningError:
            self._session.close()
            raise
        self._label = key_label

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        """The ECDH shared secret (the x coordinate, 32 bytes) with ``peer_public_key``, computed on
        the token. A token failure is a SigningError (the node's problem, never the sender's)."""
        point = peer_public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        try:
            secret = self._key.derive_key(
                KeyType.GENERIC_SECRET,
                256,
                mechanism=Mechanism.ECDH1_DERIVE,
                mechanism_param=(KDF.NULL, None, point),
                template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True, Attribute.TOKEN: False},
            )
            try:
                return bytes(secret[Attribute.VALUE])
            finally:
                secret.destroy()
        except pkcs11.PKCS11Error as exc:
            raise SigningError(
                f"token key {self._label!r} refused ECDH: {type(exc).__name__} {exc}"
            ) from None


def token_encryption_key(
    module: str | Path, token_label: str, pin: str, key_label: str, cert: Path
) -> EncryptionKey:
    """The org's encryption key on a token, with its certificate ``cert`` (the PKI folder's
    ``issued/<CODE>/encryption.pem``, issued for the token key by ``docbus pki issue-encryption
    --token``); SigningError when the certificate is another key's."""
    key = Pkcs11AgreementKey(module, token_label, pin, key_label)
    try:
        return EncryptionKey.bound(key, key.public_key, cert)
    except SigningError:
        key.close()
        raise
