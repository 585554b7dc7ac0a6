"""The one error the trust core raises."""

from __future__ import annotations

from schemas.reasons import Reason
from schemas.signature import SignerRole

__all__ = ["TrustError"]


class TrustError(Exception):
    """A signature, certificate or CRL is not acceptable. ``role`` names the signer that failed
    (None when the failure is not tied to one signature, e.g. a CRL that cannot be loaded)."""

    reason: Reason
    detail: str
    role: SignerRole | None

    def __init__(self, reason: Reason, detail: str, role: SignerRole | None = None) -> None:
        where = f" [{role.value}]" if role is not None else ""
        super().__init__(f"{reason.value}{where}: {detail}")
        self.reason = reason
        self.detail = detail
        self.role = role

    def __reduce__(self) -> tuple[type[TrustError], tuple[Reason, str, SignerRole | None]]:
        return (type(self), (self.reason, self.detail, self.role))

    def for_role(self, role: SignerRole) -> TrustError:
        """The same failure, attributed to ``role``."""
        return TrustError(self.reason, self.detail, role)
