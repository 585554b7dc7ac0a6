"""One decision per receipt on docbus.receipts: forward it (to whom) or refuse it (why).

Pure and sans-I/O, like consumers/bus/decide/validator.py; the rules are the bus's receipt policy
of consumers/bus/decide/rules.py (decodes, fresh, signing time, seal, then the edXML rules):

* the receipt is sealed by its ``from_org`` and answers an envelope the bus routed, by id and hash;
* 13 (recall requested) comes only from the original sender and goes to every recipient;
* 15/16 (recall agreed / refused) come only from a recipient, after a 13;
* every other status comes from a recipient and goes back to the original sender;
* each follows its recipient's receipts so far (schemas/lifecycle.py), else RECEIPT_ORDER; a 13
  goes to the recipients it may follow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.rules import BUS_RECEIPT, AcceptanceConfig, AllOf, Subject
from consumers.bus.decide.validator import trust_hashes
from consumers.trust import TrustError, TrustPolicy
from schemas.errors import DocbusError
from schemas.lifecycle import RecipientState
from schemas.limits import DEFAULT_LIMITS, Limits
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode
from schemas.topics import status_key

__all__ = ["ReceiptAccepted", "ReceiptCheck", "ReceiptDecision", "ReceiptRejected"]


@dataclass(frozen=True, slots=True)
class ReceiptAccepted:
    receipt: Receipt
    raw: bytes
    routed: RoutedRecord
    from_org: str  # dotted
    forward_to: tuple[str, ...]  # dotted codes whose inbox gets the exact bytes
    status_keys: tuple[str, ...]  # docbus.status keys: <envelope id>/<recipient>/<status>
    receipt_hash: bytes  # SHA-256 of the exact bytes (what the audit trail names)
    trust_hashes: tuple[bytes, ...]
    lifecycle: tuple[tuple[str, RecipientState], ...] = ()  # each recipient's state after it


@dataclass(frozen=True, slots=True)
class ReceiptRejected:
    reason: Reason
    detail: str
    from_org: str | None = None
    message_id: str | None = None
    receipt: Receipt | None = None


ReceiptDecision = ReceiptAccepted | ReceiptRejected


class ReceiptCheck:
    """The bus's receipt policy (:data:`~consumers.bus.decide.rules.BUS_RECEIPT`), then the plan."""

    def __init__(
        self,
        trust: TrustPolicy,
        limits: Limits = DEFAULT_LIMITS,
        max_age: timedelta = timedelta(days=1),
        *,
        config: AcceptanceConfig | None = None,
        policy: AllOf = BUS_RECEIPT,
    ) -> None:
        self.trust = trust
        self.config = config or AcceptanceConfig(limits=limits, receipt_max_age=max_age)
        self.limits = self.config.limits
        self.max_age = self.config.receipt_max_age
        self.policy = policy

    def check(
        self,
        raw: bytes,
        *,
        now: datetime,
        routed_of: Callable[[str], RoutedRecord | None],
        recall_requested: Callable[[str], bool],
        lifecycle_of: Callable[[str, str], RecipientState] = lambda _mid, _code: RecipientState(),
        key: bytes | None = None,
    ) -> ReceiptDecision:
        """``lifecycle_of(envelope id, recipient)``: where that recipient stands (schemas/lifecycle.py);
        ``key``: the record's key (the rule ``receipt.keyed``; None: not checked)."""
        s = Subject(
            raw=raw, now=now, trust=self.trust, config=self.config, routed_of=routed_of,
            recall_requested=recall_requested, lifecycle_of=lifecycle_of, record_key=key,
        )  # fmt: skip
        try:
            self.policy.verify(s)
        except DocbusError as exc:
            detail = exc.detail
            if isinstance(exc, TrustError):
                detail = f"seal of {s.signer}: {detail}"
            receipt = s.receipt
            if receipt is None:
                return ReceiptRejected(exc.reason, detail)
            return ReceiptRejected(exc.reason, detail, s.signer, receipt.message_id, receipt)
        receipt, routed = s.receipt, s.routed
        assert receipt is not None and routed is not None  # the policy's rules set them
        # one status record per recipient and code: compaction keeps each recipient's history
        whom = tuple(code for code, _ in s.lifecycle)
        keys = tuple(status_key(receipt.envelope_id, code, receipt.status.value) for code in whom)
        targets = whom if receipt.status is StatusCode.RECALL_REQUESTED else (routed.sender,)
        return ReceiptAccepted(
            receipt=receipt,
            raw=raw,
            routed=routed,
            from_org=s.signer,
            forward_to=targets,
            status_keys=keys,
            receipt_hash=hashlib.sha256(raw).digest(),
            trust_hashes=trust_hashes(self.trust.store, receipt.signatures),
            lifecycle=s.lifecycle,
        )
