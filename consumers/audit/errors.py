"""The one error the audit core raises: a stable ``Reason`` plus a human-readable detail."""

from __future__ import annotations

from schemas.reasons import Reason

__all__ = ["AuditError"]


class AuditError(Exception):
    """A proof, checkpoint or evidence bundle does not verify.

    ``reason`` is MALFORMED (undecodable), DIGEST_MISMATCH (a hash, root or proof disagrees),
    SIGNATURE_INVALID / ALG_NOT_ALLOWED (checkpoint signature) or UNTRUSTED_CHAIN (unknown key).
    """

    reason: Reason
    detail: str

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[AuditError], tuple[Reason, str]]:
        return (type(self), (self.reason, self.detail))
