"""Link-by-link chain validation to a trust anchor, with CRL revocation, cached by chain fingerprint.

Done by hand rather than with ``cryptography.x509.verification``, which refuses Ed25519
certificates and demands TLS key purposes (docs/TRUST.md, "Why our own path validation").
A cached result is keyed by the SHA-256 of the chain's DER and void once the store's generation
moves (a new CRL or anchor), so revocation is always rechecked against the CRLs now held.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtensionOID

from consumers.trust.algorithms import PublicKey
from consumers.trust.config import TrustConfig
from consumers.trust.errors import TrustError
from consumers.trust.leaf import Leaf, read_leaf
from consumers.trust.store import TrustStore, load_certificate
from schemas.reasons import Reason

__all__ = ["ChainCache", "ValidatedChain", "validate_chain"]

# critical extensions this validator understands; any other critical one fails the chain
_KNOWN_CRITICAL = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    }
)


@dataclass(frozen=True, slots=True)
class ValidatedChain:
    certs: tuple[x509.Certificate, ...]  # leaf first, ending with the anchor
    leaf: Leaf
    key: PublicKey
    not_before: datetime  # the latest notBefore in the chain
    not_after: datetime  # the earliest notAfter in the chain
    crl_next_update: datetime | None  # the earliest nextUpdate of the CRLs consulted
    generation: int  # the store generation this was decided under


def validate_chain(
    chain: Sequence[bytes], store: TrustStore, config: TrustConfig, links: set[bytes] | None = None
) -> ValidatedChain:
    """Structure, signatures and revocation of ``chain`` (DER, leaf first). Time-independent
    except for CRL presence; the caller checks validity windows and CRL freshness per signature.
    ``links`` remembers issuer signatures already checked (a pure fact about two certificates)."""
    if not chain:
        raise TrustError(Reason.UNTRUSTED_CHAIN, "no certificate in the chain")
    if len(chain) > config.max_chain_length:
        raise TrustError(Reason.CHAIN_TOO_LONG, f"{len(chain)} certificates > {config.max_chain_length}")
    try:
        return _validate(chain, store, config, links if links is not None else set())
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # odd encodings deep in a certificate
        raise TrustError(Reason.UNTRUSTED_CHAIN, f"unusable certificate: {exc}") from None


def _validate(
    chain: Sequence[bytes], store: TrustStore, config: TrustConfig, memo: set[bytes]
) -> ValidatedChain:
    generation = store.generation
    certs = [load_certificate(der) for der in chain]
    fps = [hashlib.sha256(der).digest() for der in chain]
    if not store.is_anchor_fingerprint(fps[-1]):
        anchor = _anchor_above(certs[-1], store)
        certs.append(anchor)
        fps.append(anchor.fingerprint(hashes.SHA256()))
        if len(certs) > config.max_chain_length:
            raise TrustError(Reason.CHAIN_TOO_LONG, f"{len(certs)} certificates with the anchor")
    for cert in certs:
        _check_critical(cert)
    for below, (child, issuer) in enumerate(itertools.pairwise(certs)):
        _check_issuer(issuer, below)
        link = fps[below] + fps[below + 1]
        if link not in memo:
            _check_signature(child, issuer)
            memo.add(link)
    next_update = _check_revocation(certs, store, config)
    key = certs[0].public_key()
    return ValidatedChain(
        certs=tuple(certs),
        leaf=read_leaf(certs[0]),
        key=key,  # type: ignore[arg-type]  # other key types are refused by check_key
        not_before=max(c.not_valid_before_utc for c in certs),
        not_after=min(c.not_valid_after_utc for c in certs),
        crl_next_update=next_update,
        generation=generation,
    )


def _anchor_above(cert: x509.Certificate, store: TrustStore) -> x509.Certificate:
    for anchor in store.anchors_named(cert.issuer):
        try:
            cert.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return anchor
    raise TrustError(Reason.UNTRUSTED_CHAIN, f"issuer {cert.issuer.rfc4514_string()} is not a trust anchor")


def _check_issuer(issuer: x509.Certificate, below: int) -> None:
    """``issuer`` may sign certificates with ``below`` CA certificates between it and the leaf."""
    try:
        bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise TrustError(Reason.UNTRUSTED_CHAIN, f"{issuer.subject.rfc4514_string()} is not a CA")
    if bc.path_length is not None and below > bc.path_length:
        raise TrustError(
            Reason.UNTRUSTED_CHAIN,
            f"{issuer.subject.rfc4514_string()} allows {bc.path_length} CAs below it, chain has {below}",
        )
    try:
        signs_certs = issuer.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        signs_certs = False
    if not signs_certs:
        raise TrustError(
            Reason.UNTRUSTED_CHAIN, f"{issuer.subject.rfc4514_string()} may not sign certificates"
        )


def _check_signature(child: x509.Certificate, issuer: x509.Certificate) -> None:
    try:  # checks the issuer name too
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise TrustError(
            Reason.UNTRUSTED_CHAIN,
            f"{child.subject.rfc4514_string()} not issued by {issuer.subject.rfc4514_string()}: "
            f"{exc or 'bad signature'}",
        ) from None


def _check_critical(cert: x509.Certificate) -> None:
    try:
        extensions = cert.extensions
    except ValueError as exc:  # duplicate or undecodable extensions
        raise TrustError(Reason.UNTRUSTED_CHAIN, f"bad extensions: {exc}") from None
    for ext in extensions:
        if ext.critical and ext.oid not in _KNOWN_CRITICAL:
            raise TrustError(Reason.UNTRUSTED_CHAIN, f"unknown critical extension {ext.oid.dotted_string}")


def _check_revocation(
    certs: list[x509.Certificate], store: TrustStore, config: TrustConfig
) -> datetime | None:
    """Each certificate below the anchor against its issuer's CRL (signature checked)."""
    earliest: datetime | None = None
    for cert, issuer in itertools.pairwise(certs):
        crl = store.crl_for(issuer.subject)
        if crl is None:
            if config.require_crl:
                raise TrustError(Reason.CRL_UNAVAILABLE, f"no CRL from {issuer.subject.rfc4514_string()}")
            continue
        if not store.crl_trusted(crl, issuer):
            raise TrustError(
                Reason.CRL_UNAVAILABLE, f"CRL of {issuer.subject.rfc4514_string()} has a bad signature"
            )
        revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if revoked is not None:
            raise TrustError(
                Reason.CERT_REVOKED,
                f"serial {cert.serial_number:x} revoked at {revoked.revocation_date_utc.isoformat()}",
            )
        nu = crl.next_update_utc
        if nu is not None and (earliest is None or nu < earliest):
            earliest = nu
    return earliest


class ChainCache:
    """Validated chains by SHA-256 of their DER, least recently used dropped first."""

    def __init__(self, store: TrustStore, config: TrustConfig) -> None:
        self.store = store
        self.config = config
        self._entries: OrderedDict[bytes, ValidatedChain] = OrderedDict()
        # issuer signatures checked once (SHA-256 of child + issuer): they never change, so a new
        # CRL re-validates every chain for the cost of the revocation lookups only
        self.links: set[bytes] = set()
        self.hits = 0
        self.misses = 0

    def get(self, chain: Sequence[bytes]) -> ValidatedChain:
        h = hashlib.sha256()
        for der in chain:
            h.update(len(der).to_bytes(4, "big"))
            h.update(der)
        key = h.digest()
        entry = self._entries.get(key)
        if entry is not None and entry.generation == self.store.generation:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry
        self.misses += 1
        if len(self.links) > 8 * max(self.config.cache_size, 1024):
            self.links.clear()
        entry = validate_chain(chain, self.store, self.config, self.links)  # failures are not cached
        if self.config.cache_size:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.config.cache_size:
                self._entries.popitem(last=False)
        return entry

    def clear(self) -> None:
        self._entries.clear()
        self.links.clear()
