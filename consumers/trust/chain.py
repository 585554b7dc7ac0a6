"""Chain validation for one signature: RFC 5280 path (``path.py``), the sector profile
(``profile.py``) and the signer's facts (``leaf.py``), cached by fingerprints and store generation.

A cached verdict is keyed by the SHA-256 of the carried chain and stapled OCSP responses (a
validated chain is also found again without hashing: by its leaf's last bytes, then compared whole
with what was validated), and void once the store's generation moves (a new CRL, anchor or
intermediate), so revocation is always rechecked against what the store now holds. Refusals are
cached too (a directory topic holding entries sealed under other PKIs costs one path validation per
foreign chain, not one per entry), under the same generation rule and for at most
``TrustConfig.refusal_ttl`` of the verifier's clock: a refusal that only time could lift (a
certificate not valid yet, a CRL past its nextUpdate) is
decided again by then. A cached refusal is raised again with its reason and detail; it never turns
into an acceptance, and no cached acceptance outlives a change of the store.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from consumers.trust.config import TrustConfig
from consumers.trust.der import Cert, parse_cert
from consumers.trust.leaf import Leaf, Purpose, read_leaf
from consumers.trust.path import validate_path
from consumers.trust.profile import check_path_profile
from consumers.trust.store import TrustStore
from schemas.algorithms import PublicKey
from schemas.errors import TrustError
from schemas.reasons import Reason

__all__ = ["ChainCache", "ValidatedChain", "check_times", "validate_chain"]

# critical extensions a signer certificate may carry: the validator leaves the leaf's to us
_LEAF_CRITICAL = frozenset(
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
    certs: tuple[x509.Certificate, ...]  # the validated path, leaf first, ending with the anchor
    leaf: Leaf
    key: PublicKey
    not_before: datetime  # the latest notBefore in the path
    not_after: datetime  # the earliest notAfter in the path
    crl_next_update: datetime | None  # the earliest nextUpdate of the revocation data used
    purposes: frozenset[Purpose]  # what the path's anchor is trusted for
    generation: int  # the store generation this was decided under


def validate_chain(
    chain: Sequence[bytes],
    store: TrustStore,
    config: TrustConfig,
    *,
    now: datetime | None = None,
    ocsp: Sequence[bytes] = (),
) -> ValidatedChain:
    """Path, revocation and profile of ``chain`` (DER, signer first, the rest in any order).
    Validity windows are returned for the caller to check at the signing time; revocation is
    judged with the data the store holds now."""
    if not chain:
        raise TrustError(Reason.UNTRUSTED_CHAIN, "no certificate in the chain")
    if len(chain) > config.max_chain_length:
        raise TrustError(Reason.CHAIN_TOO_LONG, f"{len(chain)} certificates > {config.max_chain_length}")
    generation = store.generation
    certs = [parse_cert(der) for der in chain]
    _check_leaf_critical(certs[0])
    profile = config.profile
    result = validate_path(
        certs,
        store,
        now=now or datetime.now(UTC),
        tolerance=max(config.crl_grace, config.clock_skew),
        max_length=config.max_chain_length,
        min_rsa_bits=profile.min_rsa_bits,
        allow_dsa=profile.allow_dsa,
        ocsp=ocsp,
        require_revocation=config.require_crl,
    )
    check_path_profile(result.certs, profile)
    purposes = store.anchor_purposes(result.anchor.sha256) or frozenset()
    try:
        leaf = read_leaf(certs[0].x509)
        key = certs[0].x509.public_key()
    except Exception as exc:  # fail closed on anything the leaf's encoding raises
        raise TrustError(Reason.UNTRUSTED_CHAIN, f"unusable signer certificate: {exc}") from None
    return ValidatedChain(
        certs=tuple(c.x509 for c in result.certs),
        leaf=leaf,
        key=key,  # type: ignore[arg-type]  # other key types are refused by check_key
        not_before=max(c.not_before for c in result.certs),
        not_after=min(c.not_after for c in result.certs),
        crl_next_update=result.next_update,
        purposes=purposes,
        generation=generation,
    )


def check_times(chain: ValidatedChain, at: datetime, now: datetime, config: TrustConfig) -> None:
    """Every certificate of the path valid at ``at`` (the signing time) within the clock skew,
    and the revocation data used still fresh at ``now`` within ``crl_grace``."""
    skew = config.clock_skew
    if at + skew < chain.not_before:
        raise TrustError(Reason.CERT_NOT_YET_VALID, f"chain valid from {chain.not_before.isoformat()}")
    if at - skew > chain.not_after:
        raise TrustError(Reason.CERT_EXPIRED, f"chain expired at {chain.not_after.isoformat()}")
    nu = chain.crl_next_update
    if nu is not None and now > nu + config.crl_grace:
        raise TrustError(Reason.CRL_UNAVAILABLE, f"CRL stale since {nu.isoformat()}")


def _check_leaf_critical(cert: Cert) -> None:
    for ext in cert.x509.extensions:
        if ext.critical and ext.oid not in _LEAF_CRITICAL:
            raise TrustError(Reason.UNTRUSTED_CHAIN, f"unknown critical extension {ext.oid.dotted_string}")


@dataclass(frozen=True, slots=True)
class _Refusal:
    reason: Reason
    detail: str
    generation: int
    at: datetime  # the verifier's clock when it was decided

    def holds(self, generation: int, now: datetime, ttl: timedelta) -> bool:
        return self.generation == generation and timedelta(0) <= now - self.at < ttl


class ChainCache:
    """Chain verdicts by SHA-256 of their DER (and stapled OCSP), least recently used dropped:
    validated chains, and refusals (for ``config.refusal_ttl``)."""

    def __init__(self, store: TrustStore, config: TrustConfig) -> None:
        self.store = store
        self.config = config
        self._entries: OrderedDict[bytes, ValidatedChain | _Refusal] = OrderedDict()
        # leaf's last bytes (its signature's) -> (key, chain, OCSP, verdict) of validated chains: every
        # envelope of a signer carries the same chain, and hashing it cost ~2 µs a signature
        self._validated: dict[bytes, tuple[bytes, tuple[bytes, ...], tuple[bytes, ...], ValidatedChain]] = {}
        self.hits = 0
        self.misses = 0
        self.refusals_reused = 0

    def get(
        self, chain: Sequence[bytes], *, now: datetime | None = None, ocsp: Sequence[bytes] = ()
    ) -> ValidatedChain:
        probe = chain[0][-32:] if chain else b""
        held = self._validated.get(probe)
        if held is not None:
            key, carried, stapled, validated = held
            # compared whole: the probe only finds the candidate; the LRU entry must still be it
            if (
                validated.generation == self.store.generation
                and carried == tuple(chain)
                and stapled == tuple(ocsp)
                and self._entries.get(key) is validated
            ):
                self._entries.move_to_end(key)
                self.hits += 1
                return validated
        h = hashlib.sha256()
        for part in (chain, ocsp):
            h.update(len(part).to_bytes(4, "big"))
            for der in part:
                h.update(len(der).to_bytes(4, "big"))
                h.update(der)
        key = h.digest()
        at = now or datetime.now(UTC)
        generation = self.store.generation
        entry = self._entries.get(key)
        if isinstance(entry, ValidatedChain) and entry.generation == generation:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry
        if isinstance(entry, _Refusal) and entry.holds(generation, at, self.config.refusal_ttl):
            self._entries.move_to_end(key)
            self.refusals_reused += 1
            raise TrustError(entry.reason, entry.detail)
        self.misses += 1
        try:
            validated = validate_chain(chain, self.store, self.config, now=now, ocsp=ocsp)
        except TrustError as exc:
            # keyed by the generation read before validating: a store change meanwhile voids it
            self._keep(key, _Refusal(exc.reason, exc.detail, generation, at))
            raise
        self._keep(key, validated)
        if self.config.cache_size:
            if len(self._validated) >= self.config.cache_size:
                self._validated.pop(next(iter(self._validated)))
            self._validated[probe] = (key, tuple(chain), tuple(ocsp), validated)
        return validated

    def _keep(self, key: bytes, entry: ValidatedChain | _Refusal) -> None:
        if not self.config.cache_size or (isinstance(entry, _Refusal) and not self.config.refusal_ttl):
            self._entries.pop(key, None)
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.config.cache_size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
        self._validated.clear()
