"""The ministry PKI tooling: root and issuing CA, org/official/audit certificates, CRLs.

Python API in ``infra.pki.authority``; command line ``docbus pki ...`` in ``infra.pki.cli``.
"""

from infra.pki.authority import Authority, Entry, Issued
from infra.pki.keys import KeyType

__all__ = ["Authority", "Entry", "Issued", "KeyType"]
