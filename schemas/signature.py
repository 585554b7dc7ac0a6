"""The signature block: what a signer attaches to an envelope or a receipt (docs/ENVELOPE.md)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Signature", "SignerRole"]


class SignerRole(StrEnum):
    OFFICIAL = "official"  # the competent official (người ký), usually on a USB token
    ORGANIZATION = "organization"  # the organisation seal (chữ ký số của cơ quan, tổ chức)


class Signature(BaseModel):
    """One signature. ``algorithm`` stays a plain string so an unknown name is a typed rejection
    (ALG_NOT_ALLOWED) at verification, not a decoding failure."""

    model_config = ConfigDict(frozen=True)

    role: SignerRole
    algorithm: str  # one of schemas.algorithms.Algorithm values
    chain: list[bytes]  # DER certificates, signer first, then issuers (anchor optional)
    signing_time: datetime  # claimed by the signer, timezone-aware UTC
    value: bytes  # raw signature bytes (ECDSA: DER-encoded (r, s), low-S)
    # DER OCSPResponses the signer stapled for its chain (envelope.v4): checked offline by the
    # trust core beside the CRLs; not signed, so a relay that strips them only loses that evidence
    ocsp: list[bytes] = Field(default_factory=list)
