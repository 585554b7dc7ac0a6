"""Who has what status for one document, from the records of the compacted ``docbus.status`` topic.

Keys (ADR 0001): ``<message id>/<recipient>`` holds the recipient's latest receipt;
``<message id>/<recipient>/routed`` holds the bus's 01 notice written when it routed the envelope
there, so a recipient that has not answered yet still shows up. Pure: records in, rows out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from schemas.errors import ContractError
from schemas.receipt import Receipt, StatusCode, parse_receipt

__all__ = ["ROUTED_SUFFIX", "StatusRow", "status_rows"]

ROUTED_SUFFIX = "/routed"


@dataclass(frozen=True, slots=True)
class StatusRow:
    message_id: str
    document_id: str
    recipient: str
    routed_at: datetime | None  # None: a receipt without a routing fact (an older bus)
    status: StatusCode | None  # None: routed, not yet acknowledged
    at: datetime | None
    by: str
    reason: str

    @property
    def acknowledged(self) -> bool:
        return self.status is not None


def _parse_key(key: str) -> tuple[str, str, bool] | None:
    routed = key.endswith(ROUTED_SUFFIX)
    parts = key.removesuffix(ROUTED_SUFFIX).split("/")
    return (parts[0], parts[1], routed) if len(parts) == 2 else None


def status_rows(
    records: Iterable[tuple[bytes | None, bytes | None]],
    query: str,
    addressed: Mapping[str, tuple[str, Iterable[str]]] | None = None,
) -> list[StatusRow]:
    """Rows of every (message, recipient) whose message id or document id is ``query``; a later
    record of the same key replaces an earlier one (as compaction will). ``addressed``: message id
    -> (document id, recipients) the sender knows it addressed (its own sent envelopes), for
    recipients that have not answered when the bus wrote no routing facts."""
    routed: dict[tuple[str, str], Receipt] = {}
    answers: dict[tuple[str, str], Receipt] = {}
    for key, value in records:
        parsed = _parse_key((key or b"").decode("utf-8", "replace"))
        if parsed is None or value is None:
            continue
        message_id, recipient, is_routed = parsed
        try:
            receipt = parse_receipt(value)
        except ContractError:
            continue
        if query not in (message_id, receipt.document_id):
            continue
        (routed if is_routed else answers)[(message_id, recipient)] = receipt
    documents = {mid: doc for mid, (doc, _) in (addressed or {}).items()}
    known = {(mid, code) for mid, (_, codes) in (addressed or {}).items() for code in codes}
    for (mid, _), receipt in (routed | answers).items():
        documents.setdefault(mid, receipt.document_id)
    rows = []
    for pair in sorted(routed.keys() | answers.keys() | known):
        fact, answer = routed.get(pair), answers.get(pair)
        rows.append(
            StatusRow(
                message_id=pair[0],
                document_id=documents[pair[0]],
                recipient=pair[1],
                routed_at=fact.at if fact is not None else None,
                status=answer.status if answer is not None else None,
                at=answer.at if answer is not None else None,
                by=" / ".join(x for x in (answer.by_name, answer.by_position) if x) if answer else "",
                reason=answer.reason if answer is not None else "",
            )
        )
    return rows
