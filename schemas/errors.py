"""The one error the contract raises: a stable ``Reason`` plus a human-readable detail."""

from __future__ import annotations

from schemas.reasons import Reason

__all__ = ["ContractError", "DocbusError"]


class DocbusError(Exception):
    """Base of docbus's domain errors: a stable ``Reason`` plus a human-readable detail, so callers
    route on ``reason`` whichever component refused."""

    reason: Reason
    detail: str

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[DocbusError], tuple[Reason, str]]:
        # keep pickling (multiprocessing, faust) working with the two-argument constructor
        return (type(self), (self.reason, self.detail))


class ContractError(DocbusError):
    """A message breaks the contract (undecodable, unknown schema, bad field, over a limit...).

    Library errors (fastavro, pydantic, struct, EOF, Unicode) are wrapped into this, so callers
    catch one type and route on ``reason``.
    """
