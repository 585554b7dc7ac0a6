"""The pure trust core: chain validation, revocation, org binding and signature checks.

Sans-I/O, no aiokafka/faust. Build a ``TrustStore`` from root CA certificates and CRLs, wrap it
in a ``TrustPolicy`` and call ``verify_document`` / ``verify_seal``; failures raise ``TrustError``.
"""

from consumers.trust.algorithms import low_s, raw_to_der
from consumers.trust.config import TrustConfig
from consumers.trust.errors import TrustError
from consumers.trust.leaf import Purpose
from consumers.trust.store import TrustStore
from consumers.trust.verify import Signer, TrustPolicy, VerifiedDocument, VerifiedSeal

__all__ = [
    "Purpose",
    "Signer",
    "TrustConfig",
    "TrustError",
    "TrustPolicy",
    "TrustStore",
    "VerifiedDocument",
    "VerifiedSeal",
    "low_s",
    "raw_to_der",
]
