"""Signature algorithm identifiers: the only ones docbus accepts (docs/ENVELOPE.md)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Algorithm"]


class Algorithm(StrEnum):
    RSA_PKCS1V15_SHA256 = "RSA-PKCS1v15-SHA256"  # RSA >= 2048 bits
    RSA_PSS_SHA256 = "RSA-PSS-SHA256"  # RSA >= 2048 bits, MGF1-SHA256, salt length 32
    ECDSA_P256_SHA256 = "ECDSA-P256-SHA256"  # DER-encoded (r, s), low-S required
    ED25519 = "Ed25519"
