"""The sector trust profile: rules on every certificate of a validated path, on top of RFC 5280.

RFC 5280 path validation (``path.py``) says whether a path is sound; this says whether the sector
accepts it: key sizes on every certificate, roots included (a weak root signs anything), and the
CA profile of the sector's CAs (docs/TRUST.md, "The sector profile"). ``TrustProfile.rfc5280()``
turns the sector rules off, for conformance suites such as NIST PKITS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from consumers.trust.der import Cert
from schemas.errors import TrustError
from schemas.reasons import Reason

__all__ = ["TrustProfile", "check_path_profile"]

_MAX_SERIAL_OCTETS = 20  # RFC 5280 4.1.2.2


@dataclass(frozen=True, slots=True)
class TrustProfile:
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256  # P-256 and up; Ed25519 / Ed448 always pass
    allow_dsa: bool = False
    # CA profile: basicConstraints critical on every CA, a non-empty CA subject, serials of at most
    # 20 octets, no keyCertSign on a certificate that is not a CA
    ca_profile: bool = True

    @classmethod
    def rfc5280(cls) -> TrustProfile:
        """RFC 5280 alone (what PKITS tests): no key-size floor beyond the validator's, no CA
        profile. Never for production."""
        return cls(min_rsa_bits=1024, min_ec_bits=160, allow_dsa=True, ca_profile=False)


def check_path_profile(path: Sequence[Cert], profile: TrustProfile) -> None:
    """``path`` leaf first, ending with the anchor. KEY_TOO_WEAK or CERT_PROFILE on the first
    certificate that breaks ``profile``."""
    for depth, cert in enumerate(path):
        try:
            _check(cert.x509, depth, profile)
        except TrustError:
            raise
        except Exception as exc:  # fail closed on any odd encoding met here
            raise TrustError(Reason.CERT_PROFILE, f"{_who(cert.x509, depth)}: unreadable: {exc}") from None


def _check(cert: x509.Certificate, depth: int, profile: TrustProfile) -> None:
    _check_key(cert, depth, profile)
    if not profile.ca_profile:
        return
    if len(_serial_octets(cert.serial_number)) > _MAX_SERIAL_OCTETS:
        raise TrustError(Reason.CERT_PROFILE, f"{_who(cert, depth)}: serial number over 20 octets")
    try:
        bc_ext = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        is_ca, bc_critical = bc_ext.value.ca, bc_ext.critical
    except x509.ExtensionNotFound:
        is_ca, bc_critical = False, False
    if depth > 0:  # the issuers: CA profile
        if not is_ca or not bc_critical:
            raise TrustError(Reason.CERT_PROFILE, f"{_who(cert, depth)}: basicConstraints CA not critical")
        if len(cert.subject) == 0:
            raise TrustError(Reason.CERT_PROFILE, f"{_who(cert, depth)}: a CA with an empty subject")
    elif not is_ca and _key_usage(cert, "key_cert_sign"):
        raise TrustError(
            Reason.CERT_PROFILE, f"{_who(cert, depth)}: keyCertSign on a certificate that is no CA"
        )


def _check_key(cert: x509.Certificate, depth: int, profile: TrustProfile) -> None:
    # the signer's own key too small is ALG_NOT_ALLOWED, as for every signature key; a CA's
    weak = Reason.ALG_NOT_ALLOWED if depth == 0 else Reason.KEY_TOO_WEAK
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < profile.min_rsa_bits:
            raise TrustError(weak, f"{_who(cert, depth)}: RSA-{key.key_size} < {profile.min_rsa_bits}")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < profile.min_ec_bits:
            raise TrustError(weak, f"{_who(cert, depth)}: EC curve {key.curve.name}")
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        pass
    elif not profile.allow_dsa:
        raise TrustError(weak, f"{_who(cert, depth)}: a {type(key).__name__} is not allowed")


def _key_usage(cert: x509.Certificate, bit: str) -> bool:
    try:
        return bool(getattr(cert.extensions.get_extension_for_class(x509.KeyUsage).value, bit))
    except x509.ExtensionNotFound:
        return False


def _serial_octets(serial: int) -> bytes:
    # DER INTEGER content: two's complement, minimal length
    length = max(1, (serial.bit_length() + 8) // 8) if serial >= 0 else ((~serial).bit_length() + 8) // 8
    return serial.to_bytes(length, "big", signed=True)


def _who(cert: x509.Certificate, depth: int) -> str:
    role = "leaf" if depth == 0 else f"CA at depth {depth}"
    try:
        return f"{role} {cert.subject.rfc4514_string()[:100]}"
    except Exception:
        return role
