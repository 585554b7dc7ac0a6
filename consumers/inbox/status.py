"""Who stands where for one document, from the records of the compacted ``docbus.status`` topic.

Keys (schemas/topics.py): ``<message id>/<recipient>/<status>`` holds that recipient's receipt of
that status (so compaction keeps each recipient's history, a recall included);
``<message id>/<recipient>/routed`` the bus's sealed 01 notice written when it routed the envelope
there; ``<message id>/<recipient>`` the latest receipt as an older bus wrote it. Each recipient's
receipts are replayed through the lifecycle (schemas/lifecycle.py) in the order of their times.

Counted are only the bus's routing facts sealed by the bus and receipts whose seal verifies (the
caller's ``verify``) from an addressed recipient (a 13 from the envelope's sender); anything else
on the topic is listed in :attr:`StatusReport.ignored` with why, never counted. Pure: records in,
rows out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from consumers.trust import TrustPolicy
from schemas.canonical import receipt_signing_input
from schemas.errors import ContractError, TrustError
from schemas.lifecycle import DONE, Recall, RecipientState, follow
from schemas.orgcode import canonical_org_code
from schemas.receipt import Receipt, StatusCode, parse_receipt
from schemas.topics import ROUTED, parse_status_key

__all__ = [
    "ROUTED_SUFFIX", "Ignored", "StatusReport", "StatusRow", "seal_check", "status_report", "status_rows",
]

ROUTED_SUFFIX = "/" + ROUTED
S = StatusCode


def seal_check(policy: TrustPolicy) -> Callable[[Receipt], bool]:
    """``verify`` for :func:`status_report`: the receipt's seal verifies for its ``from_org``."""

    def verify(receipt: Receipt) -> bool:
        try:
            org = canonical_org_code(receipt.from_org)
            policy.verify_seal(receipt_signing_input(receipt), receipt.signatures, org, datetime.now(UTC))
        except (TrustError, ValueError):
            return False
        return True

    return verify


@dataclass(frozen=True, slots=True)
class Ignored:
    key: str
    why: str


@dataclass(frozen=True, slots=True)
class StatusRow:
    message_id: str
    document_id: str
    recipient: str
    routed_at: datetime | None  # delivered by the bus; None: no routing fact (an older bus)
    status: StatusCode | None  # the latest counted receipt; None: nothing yet
    at: datetime | None
    by: str
    reason: str
    state: RecipientState = field(default_factory=RecipientState)
    times: Mapping[StatusCode, datetime] = field(default_factory=dict)  # each counted code, when
    out_of_order: tuple[str, ...] = ()  # receipts that did not follow (an older bus let them by)

    @property
    def acknowledged(self) -> bool:
        """Its 01 (or a refusal) came."""
        return self.state.progress is not None

    @property
    def outstanding(self) -> bool:
        """More is awaited from this recipient: not refused, done or recalled, or a recall unanswered."""
        return not self.state.settled

    @property
    def stage(self) -> str:
        """One word for where it stands: recalled, recall asked, refused, done (05, 06), processing
        (04), accepted, arrived, delivered (by the bus, nothing from the recipient yet) or addressed."""
        st = self.state
        if st.recall is Recall.AGREED:
            return "recalled"
        if st.recall is Recall.REQUESTED:
            return "recall asked"
        if st.progress in DONE:
            return "done"
        progress = {
            S.REJECTED: "refused", S.ASSIGNED: "processing", S.ACCEPTED: "accepted", S.ARRIVED: "arrived",
        }  # fmt: skip
        if st.progress is not None:
            return progress[st.progress]
        return "delivered" if self.routed_at is not None else "addressed"


@dataclass(frozen=True, slots=True)
class StatusReport:
    rows: list[StatusRow]
    ignored: list[Ignored]

    @property
    def outstanding(self) -> list[StatusRow]:
        return [r for r in self.rows if r.outstanding]


@dataclass(slots=True)
class _Pair:
    routed: Receipt | None = None
    receipts: list[Receipt] = field(default_factory=list)


def status_rows(
    records: Iterable[tuple[bytes | None, bytes | None]],
    query: str,
    addressed: Mapping[str, tuple[str, Iterable[str]]] | None = None,
    verify: Callable[[Receipt], bool] | None = None,
    bus_org: str = "G03.BUS",
) -> list[StatusRow]:
    """:func:`status_report`'s rows."""
    return status_report(records, query, addressed, verify, bus_org).rows


def status_report(
    records: Iterable[tuple[bytes | None, bytes | None]],
    query: str,
    addressed: Mapping[str, tuple[str, Iterable[str]]] | None = None,
    verify: Callable[[Receipt], bool] | None = None,
    bus_org: str = "G03.BUS",
) -> StatusReport:
    """Rows of every (message, recipient) whose message id or document id is ``query``; a later
    record of the same key replaces an earlier one (as compaction will). ``addressed``: message id
    -> (document id, recipients) the sender knows it addressed (its own sent envelopes). ``verify``:
    True when a receipt's seal verifies for its ``from_org`` (None: seals are not checked)."""
    latest: dict[str, tuple[str, str, str, Receipt]] = {}
    ignored: dict[str, Ignored] = {}
    for key, value in records:
        text = (key or b"").decode("utf-8", "replace")
        parsed = parse_status_key(text)
        if parsed is None or value is None:
            latest.pop(text, None)  # a tombstone (or no key): nothing kept under it
            continue
        try:
            receipt = parse_receipt(value)
        except ContractError as exc:
            if query in text:
                ignored[text] = Ignored(text, f"not a receipt: {exc.reason.value}")
            continue
        if query not in (parsed[0], receipt.document_id):
            continue
        latest[text] = (*parsed, receipt)
        ignored.pop(text, None)
    return _report(latest, addressed or {}, verify, canonical_org_code(bus_org), list(ignored.values()))


def _report(
    latest: Mapping[str, tuple[str, str, str, Receipt]],
    addressed: Mapping[str, tuple[str, Iterable[str]]],
    verify: Callable[[Receipt], bool] | None,
    bus_org: str,
    ignored: list[Ignored],
) -> StatusReport:
    def sealed(r: Receipt) -> bool:
        return verify is None or verify(r)

    pairs: dict[tuple[str, str], _Pair] = {}
    senders: dict[str, str] = {}  # message id -> its sender (the bus's 01 went to it)
    documents = {mid: doc for mid, (doc, _) in addressed.items()}
    for mid, (_, codes) in addressed.items():
        for code in codes:
            pairs.setdefault((mid, canonical_org_code(code)), _Pair())
    facts = [(k, v) for k, v in latest.items() if v[2] == ROUTED]
    for key, (mid, recipient, _, notice) in facts:
        if canonical_org_code(notice.from_org) != bus_org or notice.envelope_id != mid or not sealed(notice):
            ignored.append(Ignored(key, f"routing fact not sealed by {bus_org} for {mid}"))
            continue
        pairs.setdefault((mid, recipient), _Pair()).routed = notice
        senders[mid] = canonical_org_code(notice.to_org)
        documents.setdefault(mid, notice.document_id)
    for key, (mid, recipient, what, receipt) in latest.items():
        if what == ROUTED:
            continue
        why = _why_not(receipt, mid, recipient, what, (mid, recipient) in pairs, senders.get(mid))
        if why is None and not sealed(receipt):
            why = f"seal of {receipt.from_org} does not verify"
        if why is not None:
            ignored.append(Ignored(key, why))
            continue
        pairs[(mid, recipient)].receipts.append(receipt)
        documents.setdefault(mid, receipt.document_id)
    rows = [_row(mid, code, documents.get(mid, ""), pair) for (mid, code), pair in sorted(pairs.items())]
    return StatusReport(rows, sorted(ignored, key=lambda i: i.key))


def _why_not(
    receipt: Receipt, mid: str, recipient: str, what: str, is_addressed: bool, sender: str | None
) -> str | None:
    if receipt.envelope_id != mid or (what and what != receipt.status.value):
        return "the key names another message or status than the receipt"
    if not is_addressed:
        return f"{recipient} is not an addressed recipient of {mid}"
    origin = canonical_org_code(receipt.from_org)
    if receipt.status is S.RECALL_REQUESTED:
        if sender is not None and origin != sender:
            return f"recall by {receipt.from_org}, not the sender {sender}"
        return None
    if origin != recipient:
        return f"receipt from {receipt.from_org} under {recipient}'s key"
    return None


_ORDER = {code: i for i, code in enumerate(StatusCode)}


def _row(mid: str, recipient: str, document_id: str, pair: _Pair) -> StatusRow:
    state, times, skipped = RecipientState(), {}, []
    last: Receipt | None = None
    for receipt in sorted(pair.receipts, key=lambda r: (r.at, _ORDER[r.status])):
        try:
            state = follow(state, receipt.status)
        except ContractError as exc:
            skipped.append(f"{receipt.status.value}: {exc.detail}")
            continue
        times[receipt.status] = receipt.at
        last = receipt
    return StatusRow(
        message_id=mid,
        document_id=document_id,
        recipient=recipient,
        routed_at=pair.routed.at if pair.routed is not None else None,
        status=last.status if last is not None else None,
        at=last.at if last is not None else None,
        by=" / ".join(x for x in (last.by_name, last.by_position) if x) if last else "",
        reason=last.reason if last is not None else "",
        state=state,
        times=times,
        out_of_order=tuple(skipped),
    )
