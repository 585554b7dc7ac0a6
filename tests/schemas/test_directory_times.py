"""The freshness rule of directory entries (schemas.directory.check_entry_times): a seal is made after
the content it seals and published within a day of being made, judged by the broker's append time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from docbus.sector import build_sector
from schemas.directory import ENTRY_MAX_AGE, DirectoryEntry, check_entry_times
from schemas.errors import ContractError
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole

PUBLISHED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def sealed_at(at: datetime, updated_at: datetime = datetime(2026, 3, 1, tzinfo=UTC)) -> DirectoryEntry:
    seal = Signature(role=SignerRole.ORGANIZATION, algorithm="ECDSA-SHA256", chain=[b"\x30"], signing_time=at,
                     value=b"\x30")  # fmt: skip
    entry = build_sector(1, 1)[0]
    return entry.model_copy(update={"updated_at": updated_at, "signatures": [seal]})


@pytest.mark.parametrize(
    "at",
    [PUBLISHED, PUBLISHED - timedelta(hours=23), PUBLISHED + timedelta(minutes=4), PUBLISHED - ENTRY_MAX_AGE],
)
def test_an_entry_published_within_a_day_of_its_seal_is_fresh(at: datetime) -> None:
    check_entry_times(sealed_at(at), PUBLISHED)


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        # an expired (or replaced) authority key, its signing_time backdated into its validity
        (sealed_at(PUBLISHED - timedelta(days=400), updated_at=PUBLISHED - timedelta(days=500)), "more than"),
        (sealed_at(PUBLISHED - ENTRY_MAX_AGE - timedelta(seconds=1)), "more than"),
        (sealed_at(PUBLISHED + timedelta(hours=1)), "after its publication"),
        (sealed_at(PUBLISHED - timedelta(hours=1), updated_at=PUBLISHED), "before its updated_at"),
    ],
)
def test_a_backdated_late_or_premature_seal_is_stale(entry: DirectoryEntry, why: str) -> None:
    with pytest.raises(ContractError) as refused:
        check_entry_times(entry, PUBLISHED)
    assert refused.value.reason is Reason.STALE and why in refused.value.detail


def test_an_old_entry_sealed_again_today_is_fresh() -> None:
    """Re-sealing (a new authority key) keeps updated_at: only the seal's time must be fresh."""
    check_entry_times(sealed_at(PUBLISHED, updated_at=PUBLISHED - timedelta(days=365)), PUBLISHED)
