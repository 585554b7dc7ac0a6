"""The recipient's check of the bus's routing proof (schemas/route_proof.py): an inbox copy is
taken only when the bus sealed that it routed exactly this envelope to this recipient.

Pure: the inbox client hands in the copy's headers, the decoded envelope and its trust policy;
the check returns nothing or raises :class:`TrustError` with ``Reason.NOT_ROUTED``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from consumers.trust import TrustError, TrustPolicy
from schemas.canonical import signing_hash
from schemas.codec import decode
from schemas.envelope import Envelope
from schemas.errors import ContractError
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason
from schemas.route_proof import MAX_PROOF_BYTES, ROUTE_PROOF_HEADER, RouteProof

__all__ = ["check_route_proof", "proof_header"]


def proof_header(headers: Iterable[tuple[str, bytes]] | None) -> bytes | None:
    for name, value in headers or ():
        if name == ROUTE_PROOF_HEADER:
            return bytes(value)
    return None


def check_route_proof(
    proof: bytes | None, env: Envelope, recipient: str, policy: TrustPolicy, bus_org: str, now: datetime
) -> None:
    """Raises TrustError(NOT_ROUTED) unless ``proof`` is the bus's seal over this envelope's id and
    signing hash, ``recipient`` and the envelope's directory snapshot."""
    if proof is None:
        raise TrustError(Reason.NOT_ROUTED, f"no {ROUTE_PROOF_HEADER} header: not routed by the bus")
    if len(proof) > MAX_PROOF_BYTES:
        raise TrustError(Reason.NOT_ROUTED, f"routing proof of {len(proof)} bytes is over {MAX_PROOF_BYTES}")
    try:
        parsed = decode(proof, RouteProof)
    except ContractError as exc:
        raise TrustError(Reason.NOT_ROUTED, f"routing proof does not decode: {exc.detail}") from None
    wanted = (env.message_id, signing_hash(env), canonical_org_code(recipient), env.directory_snapshot)
    named = (parsed.message_id, parsed.signing_hash, canonical_org_code(parsed.recipient), parsed.snapshot)
    if named != wanted:
        field = ("message id", "envelope hash", "recipient", "snapshot")[
            next(i for i, (a, b) in enumerate(zip(named, wanted, strict=True)) if a != b)
        ]
        raise TrustError(Reason.NOT_ROUTED, f"routing proof names another {field}")
    try:
        policy.verify_seal(parsed.signing_input(), [parsed.signature], canonical_org_code(bus_org), now)
    except TrustError as exc:
        raise TrustError(Reason.NOT_ROUTED, f"routing proof seal: {exc.reason.value}: {exc.detail}") from None
