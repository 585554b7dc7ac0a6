"""The one error the audit core raises: a stable ``Reason`` plus a human-readable detail."""

from __future__ import annotations

from schemas.errors import DocbusError

__all__ = ["AuditError"]


class AuditError(DocbusError):
    """A proof, checkpoint or evidence bundle does not verify.

    ``reason`` is MALFORMED (undecodable), DIGEST_MISMATCH (a hash, root or proof disagrees),
    SIGNATURE_INVALID / ALG_NOT_ALLOWED (checkpoint signature) or UNTRUSTED_CHAIN (unknown key).
    """
