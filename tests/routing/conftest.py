"""Shared fixtures: the default sector directory and a small entry factory."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from docbus.sector import build_sector
from schemas.directory import DirectoryEntry, OrgKind
from schemas.directory_store import DirectorySnapshot

WHEN = datetime(2025, 7, 1, 8, 30, tzinfo=UTC)


def entry(code: str, kind: OrgKind = OrgKind.OTHER, **fields: Any) -> DirectoryEntry:
    base: dict[str, Any] = {
        "code": code,
        "name": f"Tổ chức {code}",
        "kind": kind,
        "version": 1,
        "updated_at": WHEN,
    }
    return DirectoryEntry.model_validate(base | fields)


@pytest.fixture(scope="session")
def sector() -> list[DirectoryEntry]:
    return build_sector()


@pytest.fixture(scope="session")
def snapshot(sector: list[DirectoryEntry]) -> DirectorySnapshot:
    return DirectorySnapshot.build(sector)
