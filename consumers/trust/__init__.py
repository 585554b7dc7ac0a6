"""The pure trust core: chain validation, revocation, org binding and signature checks.

Sans-I/O, no aiokafka/faust. Build a ``TrustStore`` from root CA certificates and CRLs, wrap it
in a ``TrustPolicy`` and call ``verify_document`` / ``verify_seal``; failures raise ``TrustError``.
"""

from consumers.trust.config import TrustConfig
from consumers.trust.leaf import Purpose
from consumers.trust.store import TrustStore
from consumers.trust.verify import Signer, TrustPolicy, VerifiedDocument, VerifiedSeal
from schemas.errors import TrustError

__all__ = [
    "Purpose",
    "Signer",
    "TrustConfig",
    "TrustError",
    "TrustPolicy",
    "TrustStore",
    "VerifiedDocument",
    "VerifiedSeal",
]
