"""The ministry PKI tooling: root and issuing CA, org/official/audit certificates, CRLs.

Python API in ``infra.pki.authority``; command line ``docbus pki ...`` in ``docbus.commands.pki``.
"""

from infra.pki.authority import Authority, Issued
from infra.pki.index import Entry
from infra.pki.keys import KeyType

__all__ = ["Authority", "Entry", "Issued", "KeyType"]
