"""Machine-readable output: ``--json`` prints one JSON document on stdout (shapes: docs/OPERATIONS.md)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import typer

__all__ = ["JSON", "emit"]

JSON = typer.Option(False, "--json", help="print one JSON document on stdout (docs/OPERATIONS.md)")


def _default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (Enum, Path)):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def emit(document: object) -> None:
    sys.stdout.write(json.dumps(document, default=_default, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()
