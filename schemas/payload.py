"""Payload and attachment: a descriptor (name, type, size, SHA-256) plus the inline bytes.

The signing input covers the descriptor, never the bytes; the digest check binds the two."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from schemas.fields import Sha256

__all__ = ["Payload"]

_PATH_CHARS = re.compile(r"[/\\\x00]")
# RFC 6838 type/subtype, optional parameters ("; charset=utf-8")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}(;[ -~]*)?")


def _content_type(value: str) -> str:
    if _CONTENT_TYPE.fullmatch(value) is None:
        raise ValueError("content type must be a lowercase type/subtype (RFC 6838)")
    return value


def _file_name(value: str) -> str:
    # a bare name: recipients store it, so no path components
    if value in {".", ".."} or _PATH_CHARS.search(value) is not None:
        raise ValueError("file name must not contain path separators or NUL")
    return value


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    file_name: Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_file_name)]
    content_type: Annotated[str, Field(max_length=255), AfterValidator(_content_type)]
    size: int = Field(ge=0, lt=2**63)
    sha256: Sha256
    data: bytes

    @classmethod
    def of(cls, file_name: str, content_type: str, data: bytes) -> Payload:
        """Build a payload whose descriptor matches ``data``."""
        return cls(
            file_name=file_name,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).digest(),
            data=data,
        )
