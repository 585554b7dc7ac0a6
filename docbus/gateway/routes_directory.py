"""The address book: the sector directory's current snapshot (signed entries, groups), searched."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from fastapi import APIRouter, Path, Query

from docbus.gateway.deps import Caller, GatewayDep
from docbus.gateway.models import DirectoryOrg
from docbus.gateway.problems import GatewayError, GatewayReason
from docbus.gateway.schema import PROBLEMS
from schemas.directory import DirectoryEntry, OrgKind, OrgStatus
from schemas.directory_store import KIND_GROUPS, DirectorySnapshot

__all__ = ["router"]

router = APIRouter(tags=["directory"], responses=PROBLEMS)


def _fold(text: str) -> str:
    flat = unicodedata.normalize("NFKD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in flat if not unicodedata.combining(c)).casefold()


def _org(e: DirectoryEntry) -> DirectoryOrg:
    return DirectoryOrg(code=e.code, name=e.name, name_en=e.name_en, kind=e.kind.value, parent=e.parent,
                        groups=list(e.groups), status=e.status.value, successor=e.successor,
                        version=e.version)  # fmt: skip


def _current(gw: GatewayDep) -> DirectorySnapshot:
    snapshot = gw.directory.store.current
    if snapshot is None:
        raise GatewayError(503, GatewayReason.BROKER_UNAVAILABLE, "no directory read yet")
    return snapshot


@router.get("/v1/directory/orgs", summary="Search organisations (code prefix or name, without diacritics)")
async def search_orgs(
    gw: GatewayDep, _caller: Caller,
    q: Annotated[str, Query(max_length=100)] = "",
    kind: OrgKind | None = None,
    status: OrgStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[DirectoryOrg]:  # fmt: skip
    needle = _fold(q)
    found = []
    for e in _current(gw).entries():
        if (kind is not None and e.kind is not kind) or (status is not None and e.status is not status):
            continue
        if needle and not (e.code.casefold().startswith(needle) or needle in _fold(e.name)):
            continue
        found.append(_org(e))
        if len(found) >= limit:
            break
    return found


@router.get("/v1/directory/orgs/{code}", summary="One organisation's entry")
async def get_org(gw: GatewayDep, _caller: Caller, code: Annotated[str, Path(max_length=35)]) -> DirectoryOrg:
    snapshot = _current(gw)
    entry = snapshot.entry(code)
    if entry is None:
        raise GatewayError(404, GatewayReason.NOT_FOUND, f"{code} is not in the directory")
    return _org(entry)


@router.get("/v1/directory/groups", summary="Group addresses: all-<kind> and the named lists")
async def list_groups(gw: GatewayDep, _caller: Caller) -> list[str]:
    return [*KIND_GROUPS, *(f"list:{n}" for n in _current(gw).list_names())]


@router.get("/v1/directory/groups/{group}", summary="The org codes a group address reaches now")
async def group_members(
    gw: GatewayDep, _caller: Caller, group: Annotated[str, Path(max_length=100)]
) -> list[str]:
    members = _current(gw).members(group)
    if members is None:
        raise GatewayError(404, GatewayReason.NOT_FOUND, f"{group} is not a group of the directory")
    return sorted(members)
