"""index.json: every certificate the PKI issued, its kind, org code and revocation, plus the CRL number."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Entry", "Index"]


@dataclass
class Entry:
    serial: str  # hex
    kind: str  # org | official | audit | encryption
    code: str
    name: str
    position: str | None
    not_before: str
    not_after: str
    path: str  # certificate file, relative to the PKI folder
    revoked_at: str | None = None  # ISO 8601
    revocation_reason: str | None = None  # x509.ReasonFlags value


class Index:
    def __init__(self, path: Path) -> None:
        self.path = path
        state = json.loads(path.read_text(encoding="utf-8"))
        self.crl_number: int = state["crl_number"]
        self.entries: list[Entry] = [Entry(**e) for e in state["entries"]]
        self._deferred = 0

    @staticmethod
    def create(path: Path) -> None:
        path.write_text(json.dumps({"crl_number": 0, "entries": []}), encoding="utf-8")

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)
        self.save()

    def find(self, code: str, kind: str = "org") -> Entry:
        """The latest live certificate of ``kind`` for ``code``."""
        for e in reversed(self.entries):
            if e.code == code and e.kind == kind and e.revoked_at is None:
                return e
        raise KeyError(f"no live {kind} certificate for {code!r}")

    def live(self, target: str) -> list[Entry]:
        """Live entries whose serial (hex) or org code is ``target``."""
        serial = target.lower().removeprefix("0x")
        return [e for e in self.entries if e.revoked_at is None and (e.serial == serial or e.code == target)]

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Write the file once at the end (bulk issuance of hundreds of orgs)."""
        self._deferred += 1
        try:
            yield
        finally:
            self._deferred -= 1
            self.save()

    def save(self, *, force: bool = False) -> None:
        if self._deferred and not force:
            return
        state = {"crl_number": self.crl_number, "entries": [asdict(e) for e in self.entries]}
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.path)  # atomic: a crash never leaves half an index
