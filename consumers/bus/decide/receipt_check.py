"""One decision per receipt on docbus.receipts: forward it (to whom) or refuse it (why).

Pure and sans-I/O, like consumers/bus/decide/validator.py. The edXML rules the bus enforces:

* the receipt is sealed by its ``from_org`` and answers an envelope the bus routed, by id and hash;
* 13 (recall requested) comes only from the original sender and goes to every recipient;
* 15/16 (recall agreed / refused) come only from a recipient, after a 13;
* every other status comes from a recipient and goes back to the original sender.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.validator import trust_hashes
from consumers.trust import TrustError, TrustPolicy
from schemas.canonical import receipt_signing_input
from schemas.errors import ContractError
from schemas.limits import DEFAULT_LIMITS, Limits
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode, parse_receipt

__all__ = ["ReceiptAccepted", "ReceiptCheck", "ReceiptDecision", "ReceiptRejected"]

_RECALL_ANSWERS = {StatusCode.RECALL_AGREED, StatusCode.RECALL_REFUSED}


@dataclass(frozen=True, slots=True)
class ReceiptAccepted:
    receipt: Receipt
    raw: bytes
    routed: RoutedRecord
    from_org: str  # dotted
    forward_to: tuple[str, ...]  # dotted codes whose inbox gets the exact bytes
    status_keys: tuple[str, ...]  # docbus.status keys: <envelope id>/<recipient>
    receipt_hash: bytes  # SHA-256 of the exact bytes (what the audit trail names)
    trust_hashes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ReceiptRejected:
    reason: Reason
    detail: str
    from_org: str | None = None
    message_id: str | None = None
    receipt: Receipt | None = None


ReceiptDecision = ReceiptAccepted | ReceiptRejected


class ReceiptCheck:
    def __init__(
        self, trust: TrustPolicy, limits: Limits = DEFAULT_LIMITS, max_age: timedelta = timedelta(days=1)
    ) -> None:
        self.trust = trust
        self.limits = limits
        self.max_age = max_age

    def check(
        self,
        raw: bytes,
        *,
        now: datetime,
        routed_of: Callable[[str], RoutedRecord | None],
        recall_requested: Callable[[str], bool],
    ) -> ReceiptDecision:
        try:
            receipt = parse_receipt(raw, self.limits)
        except ContractError as exc:
            return ReceiptRejected(exc.reason, exc.detail)
        origin = canonical_org_code(receipt.from_org)

        def reject(reason: Reason, detail: str) -> ReceiptRejected:
            return ReceiptRejected(reason, detail, origin, receipt.message_id, receipt)

        # certificate validity is judged at the signer's claimed signing_time: bound it by the signed,
        # fresh receipt time, or a seal that expired long ago could backdate its way in
        skew = self.trust.config.clock_skew
        if not now - self.max_age <= receipt.at <= now + skew:
            return reject(
                Reason.STALE, f"receipt time {receipt.at.isoformat()} is outside the freshness window"
            )
        for sig in receipt.signatures:
            if sig.signing_time < receipt.at - skew:
                return reject(
                    Reason.STALE, f"signing_time {sig.signing_time.isoformat()} precedes the receipt time"
                )
        try:
            self.trust.verify_seal(receipt_signing_input(receipt), receipt.signatures, origin, now)
        except TrustError as exc:
            return reject(exc.reason, f"seal of {origin}: {exc.detail}")
        routed = routed_of(receipt.envelope_id)
        if routed is None:
            return reject(Reason.POLICY, f"envelope {receipt.envelope_id} was not routed by this bus")
        if receipt.envelope_hash != routed.envelope_hash:
            return reject(
                Reason.DIGEST_MISMATCH, f"receipt names another envelope hash than {receipt.envelope_id}"
            )
        status = receipt.status
        if status is StatusCode.RECALL_REQUESTED:
            if origin != routed.sender:
                return reject(Reason.POLICY, f"recall of {receipt.envelope_id} by {origin}, not its sender")
            targets = routed.recipients
            keys = tuple(f"{receipt.envelope_id}/{code}" for code in targets)
        else:
            if origin not in routed.recipients:
                return reject(Reason.POLICY, f"{origin} was not a recipient of {receipt.envelope_id}")
            if canonical_org_code(receipt.to_org) != routed.sender:
                return reject(Reason.POLICY, f"receipt addressed to {receipt.to_org}, not to {routed.sender}")
            if status in _RECALL_ANSWERS and not recall_requested(receipt.envelope_id):
                return reject(
                    Reason.POLICY, f"status {status.value} answers no recall of {receipt.envelope_id}"
                )
            targets = (routed.sender,)
            keys = (f"{receipt.envelope_id}/{origin}",)
        return ReceiptAccepted(
            receipt=receipt,
            raw=raw,
            routed=routed,
            from_org=origin,
            forward_to=targets,
            status_keys=keys,
            receipt_hash=hashlib.sha256(raw).digest(),
            trust_hashes=trust_hashes(self.trust.store, receipt.signatures),
        )
