"""The receipt lifecycle of one recipient of one envelope: which edXML status may follow which.

A pure state machine both sides read: the bus refuses a receipt that does not follow
(``RECEIPT_ORDER``), ``docbus status`` replays what the status topic holds. Per recipient:

* progress, from the recipient: first ``01`` (arrived) or ``02`` (refused); after 01, ``02`` or
  ``03`` (accepted); after 03, ``04`` (assigned), ``05`` (processing) or ``06`` (done); after 04,
  05 or 06; after 05, 06. 02 and 06 end it. The same code again is a repeat (no change); going back
  (06 then 03, 02 then 03) or skipping (01 straight to 06) is out of order;
* recall, beside progress: ``13`` from the sender when no recall is pending or agreed; ``15``
  (agreed) or ``16`` (refused) from the recipient only while one is pending. After 15 the copy is
  recalled and nothing follows; after 16 progress goes on. A 01 may still come after a 13 (the two
  cross on the wire), no other progress after 15.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from schemas.errors import ContractError
from schemas.reasons import Reason
from schemas.receipt import StatusCode

__all__ = ["DONE", "Recall", "RecipientState", "follow", "follows"]

S = StatusCode
# progress code -> the progress codes that may come next (the same code again is a repeat)
_NEXT: dict[StatusCode | None, frozenset[StatusCode]] = {
    None: frozenset({S.ARRIVED, S.REJECTED}),
    S.ARRIVED: frozenset({S.REJECTED, S.ACCEPTED}),
    S.ACCEPTED: frozenset({S.ASSIGNED, S.PROCESSING, S.DONE}),
    S.ASSIGNED: frozenset({S.PROCESSING, S.DONE}),
    S.PROCESSING: frozenset({S.DONE}),
    S.REJECTED: frozenset(),
    S.DONE: frozenset(),
}
_RECALL = frozenset({S.RECALL_REQUESTED, S.RECALL_AGREED, S.RECALL_REFUSED})
# what counts as done: 05 and 06, as issue 13 groups them ("processing (04) / done (05, 06)"), not
# DOMAIN.md's reading of 05 as "processing"; 06 may still follow a 05 (docs/NODE.md, "Status")
DONE = frozenset({S.PROCESSING, S.DONE})


class Recall(StrEnum):
    NONE = "none"
    REQUESTED = "requested"  # 13 sent, not answered yet
    AGREED = "agreed"  # 15: the copy is recalled
    REFUSED = "refused"  # 16: the recipient keeps it


@dataclass(frozen=True, slots=True)
class RecipientState:
    """Where one recipient stands: its latest progress code (None: nothing yet) and the recall."""

    progress: StatusCode | None = None
    recall: Recall = Recall.NONE

    @property
    def settled(self) -> bool:
        """Nothing more is awaited from this recipient: refused, done (05 or 06) or recalled (and
        no recall waits for an answer)."""
        if self.recall is Recall.REQUESTED:
            return False
        return self.recall is Recall.AGREED or self.progress is S.REJECTED or self.progress in DONE

    def to_bytes(self) -> bytes:
        return f"{self.progress.value if self.progress else '--'}/{self.recall.value}".encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> RecipientState:
        """Raises ValueError for bytes that are not a stored state (a bug or corruption, not input)."""
        progress, recall = data.decode("ascii").split("/")
        return cls(None if progress == "--" else StatusCode(progress), Recall(recall))


def follow(state: RecipientState, code: StatusCode) -> RecipientState:
    """The state after ``code``; ContractError(RECEIPT_ORDER) when ``code`` may not come now."""
    if code in _RECALL:
        return _recall(state, code)
    if state.recall is Recall.AGREED:
        raise ContractError(Reason.RECEIPT_ORDER, f"status {code.value} after the copy was recalled (15)")
    if code == state.progress:
        return state  # a repeat: nothing changes
    if code not in _NEXT.get(state.progress, frozenset()):
        after = state.progress.value if state.progress else "nothing"
        allowed = ", ".join(sorted(c.value for c in _NEXT.get(state.progress, frozenset()))) or "none"
        detail = f"status {code.value} after {after} (may follow: {allowed})"
        raise ContractError(Reason.RECEIPT_ORDER, detail)
    return replace(state, progress=code)


def _recall(state: RecipientState, code: StatusCode) -> RecipientState:
    if code is S.RECALL_REQUESTED:
        if state.recall in (Recall.REQUESTED, Recall.AGREED):
            raise ContractError(Reason.RECEIPT_ORDER, f"13 while the recall is {state.recall.value}")
        return replace(state, recall=Recall.REQUESTED)
    if state.recall is not Recall.REQUESTED:
        raise ContractError(Reason.RECEIPT_ORDER, f"status {code.value} answers no pending recall (13)")
    return replace(state, recall=Recall.AGREED if code is S.RECALL_AGREED else Recall.REFUSED)


def follows(state: RecipientState, code: StatusCode) -> bool:
    try:
        follow(state, code)
    except ContractError:
        return False
    return True
