"""The one error the contract raises: a stable ``Reason`` plus a human-readable detail."""

from __future__ import annotations

from schemas.reasons import Reason
from schemas.signature import SignerRole

__all__ = ["ContractError", "DocbusError", "TrustError"]


class DocbusError(Exception):
    """Base of docbus's domain errors: a stable ``Reason`` plus a human-readable detail, so callers
    route on ``reason`` whichever component refused."""

    reason: Reason
    detail: str

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[DocbusError], tuple[object, ...]]:
        # keep pickling (multiprocessing, faust) working with the two-argument constructor
        return (type(self), (self.reason, self.detail))


class ContractError(DocbusError):
    """A message breaks the contract (undecodable, unknown schema, bad field, over a limit...).

    Library errors (fastavro, pydantic, struct, EOF, Unicode) are wrapped into this, so callers
    catch one type and route on ``reason``.
    """


class TrustError(DocbusError):
    """A signature, certificate or CRL is not acceptable. ``role`` names the signer that failed
    (None when the failure is not tied to one signature, e.g. a CRL that cannot be loaded)."""

    reason: Reason
    detail: str
    role: SignerRole | None

    def __init__(self, reason: Reason, detail: str, role: SignerRole | None = None) -> None:
        where = f" [{role.value}]" if role is not None else ""
        super().__init__(reason, detail)
        self.args = (f"{reason.value}{where}: {detail}",)
        self.role = role

    def __reduce__(self) -> tuple[type[DocbusError], tuple[object, ...]]:
        return (type(self), (self.reason, self.detail, self.role))

    def for_role(self, role: SignerRole) -> TrustError:
        """The same failure, attributed to ``role``."""
        return TrustError(self.reason, self.detail, role)
