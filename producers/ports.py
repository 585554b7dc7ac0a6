"""What a node needs from outside, as Protocols: the caller passes a verifier (the trust core's
``TrustPolicy`` fits) so a node that only sends never imports the processors' package."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from schemas.signature import Signature

__all__ = ["SealVerifier"]


class SealVerifier(Protocol):
    """Checks an organisation seal over ``signing_input``; raises ``schemas.errors.TrustError``."""

    def verify_seal(
        self, signing_input: bytes, signatures: Sequence[Signature], org: str, now: datetime
    ) -> object: ...
