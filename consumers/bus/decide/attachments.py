"""The attachment rule: every chunked payload of an accepted envelope is complete and matches its
signed digests before the bus routes it (docs/ENVELOPE.md §7.2).

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
from schemas.envelope import Envelope
from schemas.errors import ContractError
from schemas.payload import Payload

__all__ = ["attachment_refused", "check_attachment", "chunked_payloads"]


def chunked_payloads(decision: Decision) -> list[Payload]:
    """The payloads to check: those travelling as chunks, of a first-time acceptance (a record
    processed again after a restart was checked when it was first accepted)."""
    if not isinstance(decision, Accepted) or decision.duplicate:
        return []
    env: Envelope = decision.envelope
    return [p for p in (env.payload, *env.attachments) if p.blob is not None]


async def check_attachment(payload: Payload, records: AsyncIterable[bytes]) -> None:
    """Raise ContractError(BLOB_MISMATCH / BLOB_INCOMPLETE) unless ``records`` (the raw records at
    the payload's chunk offsets, in chunk order) make exactly the signed content."""
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
