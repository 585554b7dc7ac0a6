"""Stable rejection reason codes, used by every component and carried in quarantine records.

The string values are part of the contract: never rename or reuse one; add new codes at the end.
Documented in docs/REASONS.md.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason"]


class Reason(StrEnum):
    # --- decoding and contract (schemas/) ---
    MALFORMED = "MALFORMED"  # not decodable: bad marker, truncated, bad Avro
    UNKNOWN_SCHEMA = "UNKNOWN_SCHEMA"  # schema fingerprint not known to this reader
    TOO_LARGE = "TOO_LARGE"  # message or field over a documented limit
    INVALID_FIELD = "INVALID_FIELD"  # a field breaks a contract rule (org code, length, enum...)
    SECRET_REFUSED = "SECRET_REFUSED"  # secret (mật) documents are excluded from electronic exchange
    DIGEST_MISMATCH = "DIGEST_MISMATCH"  # payload/attachment bytes do not match their SHA-256
    # --- signatures and certificates (consumers/trust) ---
    SIGNATURE_MISSING = "SIGNATURE_MISSING"  # official or organisation signature absent
    SIGNATURE_INVALID = "SIGNATURE_INVALID"  # signature does not verify over the canonical bytes
    ALG_NOT_ALLOWED = "ALG_NOT_ALLOWED"  # algorithm unknown, not allowed, or not matching the key
    UNTRUSTED_CHAIN = "UNTRUSTED_CHAIN"  # chain does not lead to a configured trust anchor
    CHAIN_TOO_LONG = "CHAIN_TOO_LONG"
    CERT_EXPIRED = "CERT_EXPIRED"
    CERT_NOT_YET_VALID = "CERT_NOT_YET_VALID"
    CERT_REVOKED = "CERT_REVOKED"
    CERT_USAGE = "CERT_USAGE"  # key usage / extended key usage not for document signing
    CRL_UNAVAILABLE = "CRL_UNAVAILABLE"  # no CRL, or a stale one (fails closed)
    ORG_MISMATCH = "ORG_MISMATCH"  # certificate org code is not the sender / official not of that org
    # --- bus policy (consumers/) ---
    REPLAY = "REPLAY"  # message id already seen
    STALE = "STALE"  # created-at outside the freshness window
    SEQUENCE_GAP = "SEQUENCE_GAP"  # sender sequence or previous-hash continuity broken
    RECORD_KEY = "RECORD_KEY"  # an ingress record keyed other than by its sender code (publish again)
    UNKNOWN_SENDER = "UNKNOWN_SENDER"  # sender org not in the directory, or closed
    UNKNOWN_RECIPIENT = "UNKNOWN_RECIPIENT"  # a recipient or group not resolvable in the snapshot
    DIRECTORY_MISMATCH = "DIRECTORY_MISMATCH"  # envelope names a directory snapshot the bus does not have
    POLICY = "POLICY"  # refused by bus policy (e.g. recall not by original sender)
    NOT_ROUTED = "NOT_ROUTED"  # an inbox copy without the bus's valid routing proof for this recipient
    # --- trust on real PKIs (consumers/trust, appended) ---
    KEY_TOO_WEAK = "KEY_TOO_WEAK"  # a certificate of the path has a key under the profile's floor
    CERT_PROFILE = "CERT_PROFILE"  # a certificate of the path breaks the sector's CA profile
    NAME_CONSTRAINTS = "NAME_CONSTRAINTS"  # a name outside a CA's name constraints
    CERT_POLICY = "CERT_POLICY"  # certificate policy processing leaves no acceptable policy
    ANCHOR_NOT_ALLOWED = "ANCHOR_NOT_ALLOWED"  # the path's trust anchor is not configured for this role
    VALIDATOR_FAILURE = "VALIDATOR_FAILURE"  # the path validator failed on this input: refused, fail-closed
    # --- edXML packages (producers/edxml) ---
    XML_DTD_REFUSED = "XML_DTD_REFUSED"  # a DOCTYPE / DTD in an XML package (never loaded)
    XML_ENTITY_REFUSED = "XML_ENTITY_REFUSED"  # an entity declaration or external reference (XXE, bombs)
    XML_TOO_DEEP = "XML_TOO_DEEP"  # element nesting deeper than the package limit
    FIELD_MISSING = "FIELD_MISSING"  # a required edXML element is absent or empty
    FIELD_INCONSISTENT = "FIELD_INCONSISTENT"  # two edXML fields disagree (DocumentId vs Code...)
    # --- large payloads as chunks on docbus.blobs (schemas/blob.py) ---
    BLOB_INCOMPLETE = "BLOB_INCOMPLETE"  # a referenced chunk is not on the blob topic within the wait
    BLOB_MISMATCH = "BLOB_MISMATCH"  # a chunk or the reassembled content does not match its signed digest
    # --- audit log (consumers/audit, appended) ---
    FOREIGN_RECORD = "FOREIGN_RECORD"  # an audit-topic record the audit writer did not write (no valid seal)
    # --- receipts (schemas/lifecycle.py, appended) ---
    RECEIPT_ORDER = "RECEIPT_ORDER"  # a status that may not follow the recipient's receipts so far
    # --- document identity and text (schemas/text.py, consumers/bus/decide, appended) ---
    TEXT_NOT_NFC = "TEXT_NOT_NFC"  # a string of the contract is not in Unicode NFC
    FORBIDDEN_CHARACTER = "FORBIDDEN_CHARACTER"  # a control, bidi or zero-width character where refused
    SIGNER_MISMATCH = "SIGNER_MISMATCH"  # document.signer is not the signing official's certificate
    DUPLICATE_DOCUMENT = "DUPLICATE_DOCUMENT"  # số/ký hiệu already used by this issuer this year
    # --- encrypted large payloads (schemas/blob_crypto.py, appended) ---
    KEY_MISSING = "KEY_MISSING"  # a recipient the envelope reaches has no key wrap for its directory key
    KEY_INVALID = "KEY_INVALID"  # a wrapped document or content key does not open under the recipient's key
    BLOB_UNDECRYPTABLE = "BLOB_UNDECRYPTABLE"  # an encrypted chunk's tag fails under its content key
    # --- sender name (consumers/bus/decide/rules.py, appended) ---
    SENDER_NAME = "SENDER_NAME"  # sender.name is not the directory's name for the sender's code
    # --- not refusals: transport and local failures (schemas.errors.TransportError, OperationError) ---
    UNAVAILABLE = "UNAVAILABLE"  # the broker did not answer or acknowledge in time (retriable)
    TOPIC_MISSING = "TOPIC_MISSING"  # a topic the call needs does not exist (docbus topics apply)
    KEY_UNAVAILABLE = "KEY_UNAVAILABLE"  # a signing key or token cannot be used (file, passphrase, PIN)
    RUNTIME_MISSING = "RUNTIME_MISSING"  # the Kafka runtime is not fetched (docbus broker fetch)
    BROKER_CONTROL = "BROKER_CONTROL"  # starting, stopping or asking a local broker failed
    ADMIN_FAILED = "ADMIN_FAILED"  # the broker refused or failed an admin request (ACLs, quotas)
    DEMO_FAILED = "DEMO_FAILED"  # a step of docbus demo did not show what it should
