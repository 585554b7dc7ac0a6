"""Typed limits of the trust core; every number here is a documented policy (docs/TRUST.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from consumers.trust.profile import TrustProfile

__all__ = ["TrustConfig"]


@dataclass(frozen=True, slots=True)
class TrustConfig:
    # allowance for clocks of signer and verifier: certificate validity windows are widened by it,
    # and a signing_time up to this far in the verifier's future is still accepted
    clock_skew: timedelta = timedelta(minutes=5)
    # a CA in the chain without a loaded CRL, or whose CRL's next_update has passed (plus this grace),
    # fails closed with CRL_UNAVAILABLE; require_crl=False only for tests and offline demos
    require_crl: bool = True
    crl_grace: timedelta = timedelta(0)
    # certificates in a path including the anchor (leaf + issuing CA + root = 3), and at most this
    # many carried in a signature
    max_chain_length: int = 5
    # the signer's own key, per signature algorithm (the path's keys: ``profile``)
    min_rsa_bits: int = 2048
    # the sector rules on every certificate of the path (key sizes, CA profile)
    profile: TrustProfile = field(default_factory=TrustProfile)
    # chain verdicts kept (validated chains and refusals), least recently used dropped first
    cache_size: int = 4096
    # how long a chain's refusal is reused (store unchanged); 0 decides every refusal again
    refusal_ttl: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if self.clock_skew < timedelta(0) or self.crl_grace < timedelta(0) or self.refusal_ttl < timedelta(0):
            raise ValueError("clock_skew, crl_grace and refusal_ttl must not be negative")
        if self.max_chain_length < 1 or self.cache_size < 0:
            raise ValueError("max_chain_length must be >= 1 and cache_size >= 0")
