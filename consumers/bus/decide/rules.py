"""Acceptance as composable rules: one set of named checks, each role's policy an all-of list of them.

Pure and sans-I/O. A :class:`Rule` looks at a :class:`Subject` (the raw bytes of one envelope or
receipt and what earlier rules established about it) and returns nothing or raises a
:class:`~schemas.errors.DocbusError` carrying the reason code. :class:`AllOf` runs its rules in
order and fails closed when it has none (sigstore-python's ``AllOf`` does the same). The roles'
policies are lists drawn from :data:`RULES`:

* :data:`BUS_ENVELOPE` — what the bus checks before routing (then per-sender continuity, which
  needs the bus's state and lives in consumers/bus/decide/policy.py);
* :data:`RECIPIENT_ENVELOPE` — every rule of the bus and ``addressed``: a recipient trusts the
  signatures, not the bus;
* :data:`BUS_RECEIPT` / :data:`RECIPIENT_RECEIPT` — receipts and notices; at the bus a receipt
  must also follow its recipient's receipts so far (``receipt.in_order``, schemas/lifecycle.py).

Every window and limit comes from one :class:`AcceptanceConfig`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.routing import RoutePlan, route_envelope
from consumers.trust import Purpose, TrustPolicy, VerifiedDocument, VerifiedSeal
from schemas.canonical import envelope_signing_input, receipt_signing_input
from schemas.codec import read_record, validate_record
from schemas.directory_store import DirectoryStore
from schemas.envelope import Envelope, check_envelope
from schemas.errors import ContractError, DocbusError, TrustError
from schemas.lifecycle import RecipientState, follow
from schemas.limits import DEFAULT_LIMITS, Limits, check_message_size
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode, parse_receipt, receipt_record_key
from schemas.signature import Signature, SignerRole
from schemas.text import check_text, nfc

__all__ = [
    "BUS_ENVELOPE",
    "BUS_RECEIPT",
    "RECIPIENT_ENVELOPE",
    "RECIPIENT_RECEIPT",
    "RULES",
    "AcceptanceConfig",
    "AllOf",
    "Refusal",
    "Rule",
    "Subject",
]


class Refusal(DocbusError):
    """A rule's refusal that is not a contract, routing or trust error (POLICY, STALE...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptanceConfig:
    """The one configuration of windows and limits every policy reads (docs/ENVELOPE.md, "Time")."""

    limits: Limits = DEFAULT_LIMITS
    max_age: timedelta = timedelta(hours=24)  # an envelope must reach the exchange within a day
    max_skew: timedelta = timedelta(minutes=5)  # how far a signer's clock may run ahead
    receipt_max_age: timedelta = timedelta(hours=24)  # a receipt must reach the bus within a day

    def __post_init__(self) -> None:
        if min(self.max_age, self.max_skew, self.receipt_max_age) < timedelta(0):
            raise ValueError("acceptance windows must not be negative")


@dataclass(slots=True, kw_only=True)
class Subject:
    """One envelope or receipt under judgement, and what the rules established so far."""

    raw: bytes
    now: datetime  # the verifier's clock: certificate validity, signing times in the future
    trust: TrustPolicy
    config: AcceptanceConfig = field(default_factory=AcceptanceConfig)
    directory: DirectoryStore | None = None
    recipient: str | None = None  # the org judging, for a recipient's policy (dotted)
    received_at: datetime | None = None  # when it reached the exchange (freshness); default ``now``
    routed_of: Callable[[str], RoutedRecord | None] | None = None  # what the bus routed, by id
    recall_requested: Callable[[str], bool] | None = None
    lifecycle_of: Callable[[str, str], RecipientState] | None = None  # (envelope id, recipient)
    record_key: bytes | None = None  # the record's key on docbus.receipts (None: not checked)
    # established by the rules
    record: dict[str, Any] | None = None  # the envelope's Avro record, before the contract's rules
    envelope: Envelope | None = None
    receipt: Receipt | None = None
    signer: str = ""  # dotted claimed sender of the envelope / from_org of the receipt
    signing_input: bytes = b""
    plan: RoutePlan | None = None
    authenticated: bool = False  # the organisation seal of ``signer`` verified
    seal: VerifiedSeal | None = None
    document: VerifiedDocument | None = None
    routed: RoutedRecord | None = None
    lifecycle: tuple[tuple[str, RecipientState], ...] = ()  # each recipient's state after the receipt

    @property
    def signed_at(self) -> datetime:
        """The signed time the subject claims: an envelope's created_at, a receipt's at."""
        if self.envelope is not None:
            return self.envelope.created_at
        if self.receipt is not None:
            return self.receipt.at
        raise RuntimeError("no decoded subject")

    @property
    def signatures(self) -> list[Signature]:
        if self.envelope is not None:
            return self.envelope.signatures
        if self.receipt is not None:
            return self.receipt.signatures
        return []


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    check: Callable[[Subject], None]

    def __call__(self, subject: Subject) -> None:
        self.check(subject)


class AllOf:
    """Every rule, in order; the first refusal stands. No rules: nothing is accepted."""

    def __init__(self, name: str, rules: Sequence[Rule]) -> None:
        self.name = name
        self.rules = tuple(rules)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rules)

    def verify(self, subject: Subject) -> None:
        if not self.rules:
            raise Refusal(Reason.POLICY, f"policy {self.name} has no rules and accepts nothing")
        for rule in self.rules:
            rule.check(subject)


# --- the rules ------------------------------------------------------------------------------


def _envelope(s: Subject) -> Envelope:
    if s.envelope is None:
        raise Refusal(Reason.POLICY, "rule needs a decoded envelope first")
    return s.envelope


def _receipt(s: Subject) -> Receipt:
    if s.receipt is None:
        raise Refusal(Reason.POLICY, "rule needs a decoded receipt first")
    return s.receipt


def _decodes_envelope(s: Subject) -> None:
    check_message_size(s.raw, s.config.limits)
    s.record, trailing = read_record(s.raw, Envelope)  # kept: a refused field bug is still answered
    s.envelope = validate_record(s.record, trailing, Envelope)
    s.signer = canonical_org_code(s.envelope.sender.code)
    s.signing_input = envelope_signing_input(s.envelope)


def _decodes_receipt(s: Subject) -> None:
    s.receipt = parse_receipt(s.raw, s.config.limits)
    check_text(s.receipt)
    s.signer = canonical_org_code(s.receipt.from_org)
    s.signing_input = receipt_signing_input(s.receipt)


def _contract(s: Subject) -> None:
    check_envelope(_envelope(s), s.config.limits)  # secret, counts, digests


def _routable(s: Subject) -> None:
    env = _envelope(s)
    if s.directory is None:
        raise Refusal(Reason.DIRECTORY_MISMATCH, "no directory is read: addresses cannot be resolved")
    s.plan = route_envelope(s.directory, env.directory_snapshot, s.signer, env.recipients, env.groups)


def _fresh(s: Subject) -> None:
    at = s.received_at or s.now
    max_age = s.config.max_age if s.envelope is not None else s.config.receipt_max_age
    what = "created" if s.envelope is not None else "receipt time"
    age = at - s.signed_at
    if age > max_age:
        raise Refusal(Reason.STALE, f"{what} {age} before it arrived, more than {max_age}")
    if -age > s.config.max_skew:
        raise Refusal(Reason.STALE, f"{what} {-age} in the future, more than {s.config.max_skew}")


def _signing_time(s: Subject) -> None:
    # signing_time is the signer's unsigned claim and certificate validity is judged at it: bound
    # it by the signed, fresh time of the subject, or an expired key could backdate its way in
    earliest = s.signed_at - s.config.max_skew
    for sig in s.signatures:
        if sig.signing_time < earliest:
            what = "created_at" if s.envelope is not None else "the receipt time"
            raise Refusal(Reason.STALE, f"{sig.role.value} signing_time {sig.signing_time.isoformat()} "
                                        f"precedes {what}")  # fmt: skip


def _seal(s: Subject) -> None:
    s.seal = s.trust.verify_seal(s.signing_input, s.signatures, s.signer, s.now)
    s.authenticated = True


def _official(s: Subject) -> None:
    if s.seal is None:
        raise Refusal(Reason.POLICY, "rule needs the verified seal first")
    found = [sig for sig in s.signatures if sig.role is SignerRole.OFFICIAL]
    if not found:
        raise TrustError(Reason.SIGNATURE_MISSING, "no official signature", SignerRole.OFFICIAL)
    if len(found) > 1:
        detail = f"{len(found)} official signatures, expected one"
        raise TrustError(Reason.SIGNATURE_INVALID, detail, SignerRole.OFFICIAL)
    official = s.trust.verify_signature(s.signing_input, found[0], s.signer, Purpose.OFFICIAL, s.now)
    s.document = VerifiedDocument(s.signer, s.seal.signer, official)


def _same(a: str, b: str) -> bool:
    return a == b or _folded(a) == _folded(b)  # equal strings fold alike: the usual case, one compare


@functools.lru_cache(maxsize=1024)  # a sender's signers and their certificates: a handful of names
def _folded(text: str) -> str:
    return " ".join(nfc(text).casefold().split())


def _signer_bound(s: Subject) -> None:
    """``document.signer`` is the official whose signature verified: the name (and the position,
    when the certificate states one) of that certificate, without regard to case or spacing."""
    env = _envelope(s)
    if s.document is None:
        raise Refusal(Reason.POLICY, "rule needs the verified official first")
    named, official = env.document.signer, s.document.official
    if not _same(named.full_name, official.name):
        detail = f"signer {named.full_name!r} is not the signing official {official.name!r}"
        raise Refusal(Reason.SIGNER_MISMATCH, detail)
    if official.position and not _same(named.position, official.position):
        detail = f"signer position {named.position!r} is not the official's certified {official.position!r}"
        raise Refusal(Reason.SIGNER_MISMATCH, detail)


def _sender_named(s: Subject) -> None:
    """``sender.name`` is the name the directory snapshot the envelope names gives the sender's
    code (case and spacing aside): a university may not send as "Bộ Giáo dục và Đào tạo"."""
    env = _envelope(s)
    if s.plan is None:
        raise Refusal(Reason.POLICY, "rule needs the routing plan first")
    if not _same(env.sender.name, s.plan.sender_name):
        named, listed = env.sender.name, s.plan.sender_name
        detail = f"sender name {named!r} is not the directory's {listed!r} for {s.signer}"
        raise Refusal(Reason.SENDER_NAME, detail)


def _addressed(s: Subject) -> None:
    env = _envelope(s)
    if s.recipient is None:
        raise Refusal(Reason.POLICY, "a recipient's policy needs the recipient")
    named = {canonical_org_code(c) for c in env.recipients}
    if s.recipient in named:
        return
    if s.plan is None or s.recipient not in s.plan.recipients:
        raise Refusal(Reason.UNKNOWN_RECIPIENT, f"{s.recipient} is not among the envelope's recipients")


def _keyed(s: Subject) -> None:
    """The receipt's record key is its document's sender (schemas.receipt.receipt_record_key): the
    partition whose tables hold that document's recall and lifecycle. Checked before any is read."""
    receipt = _receipt(s)
    if s.record_key is None:
        return
    wanted = receipt_record_key(receipt)
    if s.record_key != wanted.encode():
        got = s.record_key.decode("utf-8", "replace")
        detail = f"receipt keyed {got!r}, not by its document's sender {wanted!r}: publish it again keyed so"
        raise Refusal(Reason.RECORD_KEY, detail)


def _answers_routed(s: Subject) -> None:
    receipt = _receipt(s)
    routed = s.routed_of(receipt.envelope_id) if s.routed_of is not None else None
    if routed is None:
        raise Refusal(Reason.POLICY, f"envelope {receipt.envelope_id} was not routed by this bus")
    if receipt.signing_hash != routed.signing_hash:
        detail = f"receipt names another envelope hash than {receipt.envelope_id}"
        raise Refusal(Reason.DIGEST_MISMATCH, detail)
    s.routed = routed


def _direction(s: Subject) -> None:
    receipt, routed = _receipt(s), s.routed
    if routed is None:
        raise Refusal(Reason.POLICY, "rule needs the routed envelope first")
    if receipt.status is StatusCode.RECALL_REQUESTED:
        if s.signer != routed.sender:
            raise Refusal(Reason.POLICY, f"recall of {receipt.envelope_id} by {s.signer}, not its sender")
        return
    if s.signer not in routed.recipients:
        raise Refusal(Reason.POLICY, f"{s.signer} was not a recipient of {receipt.envelope_id}")
    if canonical_org_code(receipt.to_org) != routed.sender:
        raise Refusal(Reason.POLICY, f"receipt addressed to {receipt.to_org}, not to {routed.sender}")
    answers_recall = receipt.status in (StatusCode.RECALL_AGREED, StatusCode.RECALL_REFUSED)
    if answers_recall and not (s.recall_requested is not None and s.recall_requested(receipt.envelope_id)):
        detail = f"status {receipt.status.value} answers no recall of {receipt.envelope_id}"
        raise Refusal(Reason.POLICY, detail)


def _in_order(s: Subject) -> None:
    """The receipt follows each recipient's receipts so far (schemas/lifecycle.py); a 13 goes to
    every recipient it may follow, and is refused when it follows for none."""
    receipt, routed = _receipt(s), s.routed
    if routed is None or s.lifecycle_of is None:
        raise Refusal(Reason.POLICY, "rule needs the routed envelope and the recipients' lifecycle")
    whom = routed.recipients if receipt.status is StatusCode.RECALL_REQUESTED else (s.signer,)
    after, refusal = [], None
    for code in whom:
        try:
            after.append((code, follow(s.lifecycle_of(receipt.envelope_id, code), receipt.status)))
        except ContractError as exc:
            refusal = refusal or ContractError(exc.reason, f"{code}: {exc.detail}")
    if not after:
        assert refusal is not None
        raise refusal
    s.lifecycle = tuple(after)


DECODES_ENVELOPE = Rule("envelope.decodes", _decodes_envelope)
DECODES_RECEIPT = Rule("receipt.decodes", _decodes_receipt)
CONTRACT = Rule("envelope.contract", _contract)
ROUTABLE = Rule("envelope.routable", _routable)
FRESH = Rule("fresh", _fresh)
SIGNING_TIME = Rule("signing_time.bounded", _signing_time)
SEAL = Rule("seal", _seal)
OFFICIAL = Rule("official", _official)
SIGNER_BOUND = Rule("signer.bound", _signer_bound)
SENDER_NAMED = Rule("sender.named", _sender_named)
ADDRESSED = Rule("recipient.addressed", _addressed)
KEYED = Rule("receipt.keyed", _keyed)
ANSWERS_ROUTED = Rule("receipt.answers_routed", _answers_routed)
DIRECTION = Rule("receipt.direction", _direction)
IN_ORDER = Rule("receipt.in_order", _in_order)

RULES: dict[str, Rule] = {
    r.name: r
    for r in (DECODES_ENVELOPE, DECODES_RECEIPT, CONTRACT, ROUTABLE, FRESH, SIGNING_TIME, SEAL, OFFICIAL,
              SIGNER_BOUND, SENDER_NAMED, ADDRESSED, KEYED, ANSWERS_ROUTED, DIRECTION, IN_ORDER)
}  # fmt: skip

# cheapest first: contract, directory, clocks, then cryptography
BUS_ENVELOPE = AllOf(
    "bus.envelope",
    [DECODES_ENVELOPE, CONTRACT, ROUTABLE, FRESH, SIGNING_TIME, SEAL, OFFICIAL, SIGNER_BOUND, SENDER_NAMED],
)
RECIPIENT_ENVELOPE = AllOf("recipient.envelope", [*BUS_ENVELOPE.rules, ADDRESSED])
RECIPIENT_RECEIPT = AllOf("recipient.receipt", [DECODES_RECEIPT, FRESH, SIGNING_TIME, SEAL])
BUS_RECEIPT = AllOf("bus.receipt", [*RECIPIENT_RECEIPT.rules, KEYED, ANSWERS_ROUTED, DIRECTION, IN_ORDER])
