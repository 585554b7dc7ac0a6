"""The attachment rules: every chunked payload of an accepted envelope is complete and matches its
signed digests before the bus routes it (docs/ENVELOPE.md §7.2), and an encrypted one reaches no
recipient without a key wrap for the encryption certificate the directory lists for it (§7.4,
KEY_MISSING): a recipient never receives what it cannot open.

Pure: :func:`check_attachment` consumes the chunk records the Kafka shell fetched
(consumers/bus/blobs.py) through :class:`schemas.blob.BlobAssembly`; :func:`attachment_refused`
turns its error into the decision the agent writes (quarantine, audit, a sealed 02 notice). Runs
after the signatures, so only an authenticated sender can make the bus read chunks, and before
the sender's state is stored, so a refused envelope advances nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from consumers.bus.decide.validator import Accepted, Decision, Rejected
from schemas.blob import BlobAssembly
from schemas.blob_crypto import certificate_fingerprint
from schemas.directory_store import DirectorySnapshot
from schemas.envelope import Envelope
from schemas.errors import ContractError
from schemas.payload import Payload
from schemas.reasons import Reason

__all__ = ["attachment_refused", "check_attachment", "check_key_wraps", "chunked_payloads", "keys_refused"]


def chunked_payloads(decision: Decision) -> list[Payload]:
    """The payloads to check: those travelling as chunks, of a first-time acceptance (a record
    processed again after a restart was checked when it was first accepted)."""
    if not isinstance(decision, Accepted) or decision.duplicate:
        return []
    env: Envelope = decision.envelope
    return [p for p in (env.payload, *env.attachments) if p.blob is not None]


def check_key_wraps(env: Envelope, recipients: tuple[str, ...], snapshot: DirectorySnapshot | None) -> None:
    """KEY_MISSING unless every routed recipient of an encrypted envelope has a wrap for the
    encryption certificate ``snapshot`` (the one the envelope names) lists for it. The bus cannot
    open a wrap (it holds no recipient's key); the recipient checks that it opens (KEY_INVALID)."""
    if not env.sealed or env.keys is None:
        return
    for code in recipients:
        wrap = env.keys.wrap_for(code)
        if wrap is None:
            raise ContractError(Reason.KEY_MISSING, f"the envelope reaches {code} but wraps no key for it")
        entry = None if snapshot is None else snapshot.entry(code)
        cert = None if entry is None else entry.encryption_certificate
        if cert is None or certificate_fingerprint(cert) != wrap.certificate:
            detail = (
                f"the key wrapped for {code} is not for the encryption certificate its directory entry lists"
            )
            raise ContractError(Reason.KEY_MISSING, detail)


async def check_attachment(payload: Payload, records: AsyncIterable[bytes]) -> None:
    """Raise ContractError(BLOB_MISMATCH / BLOB_INCOMPLETE) unless ``records`` (the raw records at
    the payload's chunk offsets, in chunk order) make exactly the signed content (for encrypted
    chunks: exactly the signed ciphertext, which only a recipient can decrypt and check further)."""
    assert payload.blob is not None
    assembly = BlobAssembly(payload.sha256, payload.size, payload.blob)
    async for raw in records:
        assembly.accept(raw)
    assembly.finish()


def attachment_refused(decision: Accepted, payload: Payload, error: ContractError) -> Rejected:
    """The refusal of an otherwise acceptable envelope; its sender is authenticated, so told."""
    env = decision.envelope
    detail = f"{payload.file_name}: {error.detail}"
    return Rejected(error.reason, detail, decision.sender, env.message_id, env, True, decision.trust_hashes)


def keys_refused(decision: Accepted, error: ContractError) -> Rejected:
    """The KEY_MISSING refusal of an otherwise acceptable envelope; its sender is told."""
    env = decision.envelope
    return Rejected(
        error.reason, error.detail, decision.sender, env.message_id, env, True, decision.trust_hashes
    )
