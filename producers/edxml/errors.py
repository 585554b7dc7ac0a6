"""The one error an edXML import raises: a stable ``Reason``, a detail, and the field it is about."""

from __future__ import annotations

from schemas.errors import DocbusError
from schemas.reasons import Reason

__all__ = ["EdxmlError"]


class EdxmlError(DocbusError):
    """A package docbus cannot take: unsafe or malformed XML, a missing or inconsistent field, a
    value the contract refuses. ``field`` is the edXML path (``MessageHeader/Code/CodeNumber``)."""

    field: str | None

    def __init__(self, reason: Reason, detail: str, field: str | None = None) -> None:
        super().__init__(reason, f"{field}: {detail}" if field else detail)
        self.detail = detail
        self.field = field

    def __reduce__(self) -> tuple[type[DocbusError], tuple[object, ...]]:
        return (type(self), (self.reason, self.detail, self.field))
