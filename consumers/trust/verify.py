"""Verification of signed documents and seals: the trust core's public entry points.

``verify_document`` demands one valid organisation seal and one valid official signature (ND 30,
Art. 5); ``verify_seal`` demands one organisation (or audit) signature. Each returns who signed or
raises one ``TrustError`` naming the reason and the failing role.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from consumers.trust.chain import ChainCache, ValidatedChain, check_times
from consumers.trust.config import TrustConfig
from consumers.trust.leaf import Purpose, check_purpose, org_binds
from consumers.trust.store import TrustStore
from schemas.algorithms import Algorithm, PublicKey, check_key, parse_algorithm, verify_raw
from schemas.errors import TrustError
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole

__all__ = ["Signer", "TrustPolicy", "VerifiedDocument", "VerifiedSeal"]


@dataclass(frozen=True, slots=True)
class Signer:
    role: SignerRole
    org_code: str
    name: str
    position: str | None
    serial: int
    fingerprint: str  # SHA-256 of the signer certificate, hex
    algorithm: Algorithm
    signing_time: datetime


@dataclass(frozen=True, slots=True)
class VerifiedDocument:
    sender_org: str
    organization: Signer
    official: Signer


@dataclass(frozen=True, slots=True)
class VerifiedSeal:
    org: str
    purpose: Purpose
    signer: Signer


class TrustPolicy:
    """Decides whether signatures are acceptable under ``store`` and ``config``."""

    def __init__(self, store: TrustStore, config: TrustConfig | None = None) -> None:
        self.store = store
        self.config = config or TrustConfig()
        self.chains = ChainCache(store, self.config)
        # (chain, org, purpose, algorithm) that passed every check but the times -> the checked key:
        # the same for every envelope of a signer (a chain is replaced when the store changes)
        self._bound: dict[tuple[int, str, Purpose, Algorithm], tuple[ValidatedChain, PublicKey]] = {}

    def verify_document(
        self, signing_input: bytes, signatures: Sequence[Signature], sender_org: str, *, now: datetime
    ) -> VerifiedDocument:
        org_sig = _one(signatures, SignerRole.ORGANIZATION)
        official_sig = _one(signatures, SignerRole.OFFICIAL)
        return VerifiedDocument(
            sender_org=sender_org,
            organization=self.verify_signature(signing_input, org_sig, sender_org, Purpose.ORGANIZATION, now),
            official=self.verify_signature(signing_input, official_sig, sender_org, Purpose.OFFICIAL, now),
        )

    def verify_seal(
        self,
        signing_input: bytes,
        signatures: Sequence[Signature],
        org: str,
        now: datetime,
        *,
        purpose: Purpose = Purpose.ORGANIZATION,
    ) -> VerifiedSeal:
        """Receipts, directory entries (ORGANIZATION) and audit checkpoints (AUDIT)."""
        if purpose is Purpose.OFFICIAL:
            raise ValueError("a seal is an organisation or audit signature")
        sig = _one(signatures, SignerRole.ORGANIZATION)
        return VerifiedSeal(org, purpose, self.verify_signature(signing_input, sig, org, purpose, now))

    def verify_signature(
        self, signing_input: bytes, sig: Signature, org: str, purpose: Purpose, now: datetime
    ) -> Signer:
        try:
            return self._verify(signing_input, sig, org, purpose, now)
        except TrustError as exc:
            raise exc.for_role(sig.role) from None

    def _verify(self, data: bytes, sig: Signature, org: str, purpose: Purpose, now: datetime) -> Signer:
        cfg = self.config
        alg = parse_algorithm(sig.algorithm)
        at = sig.signing_time
        if at.tzinfo is None or now.tzinfo is None:
            raise TrustError(Reason.INVALID_FIELD, "signing_time and now must be timezone-aware")
        if at > now + cfg.clock_skew:
            raise TrustError(Reason.STALE, f"signing_time {at.isoformat()} is in the future")
        chain = self.chains.get(sig.chain, now=now, ocsp=sig.ocsp)
        leaf = chain.leaf
        bound = (id(chain), org, purpose, alg)
        held = self._bound.get(bound)
        if held is not None and held[0] is chain:  # passed for this chain before: only times left
            check_times(chain, at, now, cfg)
            key = held[1]
        else:
            key = self._bind(chain, org, purpose, alg, at, now)
            if len(self._bound) > 4_096:
                self._bound.clear()
            self._bound[bound] = (chain, key)
        verify_raw(alg, key, sig.value, data)
        return Signer(
            role=sig.role,
            org_code=leaf.org_code or "",
            name=leaf.name,
            position=leaf.position,
            serial=leaf.serial,
            fingerprint=leaf.fingerprint,
            algorithm=alg,
            signing_time=at,
        )

    def _bind(
        self, chain: ValidatedChain, org: str, purpose: Purpose, alg: Algorithm, at: datetime, now: datetime
    ) -> PublicKey:
        """The checks of a validated chain for ``org``, ``purpose`` and ``alg``, in order; its key."""
        leaf = chain.leaf
        if purpose not in chain.purposes:
            raise TrustError(
                Reason.ANCHOR_NOT_ALLOWED,
                f"the path's trust anchor is not trusted for {purpose.value} signing",
            )
        check_purpose(leaf, purpose)
        if not org_binds(leaf.org_code, org, purpose):
            raise TrustError(
                Reason.ORG_MISMATCH, f"certificate org {leaf.org_code!r} does not sign for {org!r}"
            )
        check_times(chain, at, now, self.config)
        return check_key(alg, chain.key, self.config.min_rsa_bits)


def _one(signatures: Sequence[Signature], role: SignerRole) -> Signature:
    found = [s for s in signatures if s.role is role]
    if not found:
        raise TrustError(Reason.SIGNATURE_MISSING, f"no {role.value} signature", role)
    if len(found) > 1:
        raise TrustError(
            Reason.SIGNATURE_INVALID, f"{len(found)} {role.value} signatures, expected one", role
        )
    return found[0]
