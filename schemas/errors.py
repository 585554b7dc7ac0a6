"""The base of every docbus error: a stable ``Reason`` plus a human-readable detail.

Two kinds stand apart from refusals (a message or request that breaks a rule): a
:class:`TransportError` (the broker did not answer or acknowledge; ``retriable`` says whether
trying again may help; the library's error is kept as ``__cause__``) and an
:class:`OperationError` (a local or operational step failed: a key, the Kafka runtime, the
broker's control, an admin request). ``is_refusal`` tells them apart.
"""

from __future__ import annotations

from typing import Any, ClassVar

from schemas.reasons import Reason
from schemas.signature import SignerRole

__all__ = ["ContractError", "DocbusError", "OperationError", "TransportError", "TrustError", "is_refusal"]


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


class OperationError(DocbusError):
    """A local or operational failure, not a refusal of a message: the class names its reason,
    and it is raised with the detail alone (``BrokerError("no log for node 2")``); ``str()`` is
    the detail, as people read it."""

    REASON: ClassVar[Reason]

    def __init__(self, detail: str) -> None:
        super().__init__(self.REASON, detail)
        self.args = (detail,)

    def __reduce__(self) -> tuple[type[DocbusError], tuple[object, ...]]:
        return (type(self), (self.detail,))


class TransportError(DocbusError):
    """The broker could not be reached, did not answer in time or did not acknowledge: nothing was
    refused. ``retriable``: the same call may succeed later (an outage, a timeout), or not (a
    missing topic, access denied). Raised ``from`` the library's error, which stays the cause."""

    retriable: bool

    def __init__(self, detail: str, *, retriable: bool = True, reason: Reason = Reason.UNAVAILABLE) -> None:
        super().__init__(reason, detail)
        self.args = (detail,)
        self.retriable = retriable

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail,), {"retriable": self.retriable, "reason": self.reason})

    @classmethod
    def of(cls, detail: str, cause: BaseException) -> TransportError:
        """``detail`` for a failure of the Kafka client; retriable as the client's error says
        (aiokafka marks its errors ``retriable``; a timeout is)."""
        return cls(f"{detail}: {cause!r}", retriable=bool(getattr(cause, "retriable", True)))


def is_refusal(exc: BaseException) -> bool:
    """A docbus error that refuses data (reason code and detail), not a transport or local failure."""
    return isinstance(exc, DocbusError) and not isinstance(exc, TransportError | OperationError)
