"""The bus's own seal (ADR 0001): 01/02 status notices to a sender and the routing proof on every
inbox copy. Sealed by the bus org (``G03.BUS``) with the node tooling's receipt builder.

A notice's id is derived from the envelope id, the status and the reason, so processing the same
record again after a crash yields the same id and the sender's inbox keeps it once. 02 notices are
rate-bounded per sender (:class:`NoticeBudget`): a flood of forged or broken envelopes naming one
org costs that org's inbox at most ``burst`` notices plus ``per_minute`` a minute; every refusal is
still quarantined and audited.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from producers.identity import NodeIdentity
from producers.keys import make_signature
from producers.receipts import make_receipt
from schemas.avro_writer import writer
from schemas.canonical import signing_hash
from schemas.continuity import Chain
from schemas.envelope import Envelope
from schemas.fields import utc_millis
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode
from schemas.route_proof import RouteProof, route_proof_signing_input
from schemas.signature import SignerRole

__all__ = ["BusNotices", "NoticeBudget"]

_NAMESPACE = uuid.UUID("5f0b6f7e-7c1d-4a43-9a57-0d6f3c8e2b11")  # docbus bus notices


class BusNotices:
    def __init__(self, identity: NodeIdentity) -> None:
        self.identity = identity
        self._write_proof = writer(RouteProof.avro_schema)

    @property
    def org(self) -> str:
        return self.identity.org_code

    def accepted(
        self,
        env: Envelope,
        digest: bytes,
        *,
        to: str,
        at: datetime,
        note: str = "",
        chain: Chain | None = None,
    ) -> Receipt:
        """01: the bus accepted ``env`` and routed it (``digest``: its envelope hash); ``note``: what
        the sender must know of the routing (a closed code redirected to its successor); ``chain``:
        the sender channel's position after it, sealed into the notice (receipt.v3)."""
        return self._notice(env, digest, to, StatusCode.ARRIVED, note[:1000], at, chain)

    def rejected(
        self, env: Envelope, reason: Reason, detail: str, *, to: str, at: datetime, chain: Chain | None = None
    ) -> Receipt:
        """02 with ``reason`` = "<REASON CODE>: <detail>" (the code first, machine-readable);
        ``chain``: the channel's position as the bus holds it after this refusal."""
        text = f"{reason.value}: {detail}"[:1000]
        return self._notice(env, signing_hash(env), to, StatusCode.REJECTED, text, at, chain)

    def route_proof(
        self, env: Envelope, digest: bytes, *, recipient: str, snapshot: bytes, at: datetime
    ) -> bytes:
        """The encoded :class:`RouteProof` for the copy of ``env`` routed to ``recipient``.

        Written straight from its fields, the model's bytes without building it: each field is
        already what the contract holds (the validated envelope's message id, its signing hash,
        the routing plan's recipient and snapshot); the fixed-size fields are checked by the
        writer, and the inbox verifies the proof as it always did (consumers/inbox/proof.py)."""
        data = route_proof_signing_input(env.message_id, digest, recipient, snapshot)
        seal = make_signature(self.identity.seal, SignerRole.ORGANIZATION, data, utc_millis(at))
        signature = {
            "role": seal.role,
            "algorithm": seal.algorithm,
            "chain": seal.chain,
            "signing_time": seal.signing_time,
            "value": seal.value,
        }
        return self._write_proof(
            {
                "message_id": env.message_id,
                "signing_hash": digest,
                "recipient": recipient,
                "snapshot": snapshot,
                "signature": signature,
            }
        )

    def _notice(
        self, env: Envelope, digest: bytes, to: str, status: StatusCode, reason: str, at: datetime,
        chain: Chain | None,
    ) -> Receipt:
        name = f"{env.message_id}/{status.value}/{reason.split(':', 1)[0]}"
        return make_receipt(
            self.identity,
            envelope_message_id=env.message_id,
            document_id=env.document.document_id,
            signing_hash=digest,
            to_org=to,
            status=status,
            reason=reason,
            by_name="docbus",
            by_position="bus",
            at=at,
            message_id=str(uuid.uuid5(_NAMESPACE, name)),
            chain=chain,
        )


class NoticeBudget:
    """A token bucket per sender for 02 notices: ``burst`` at once, refilled ``per_minute``."""

    def __init__(self, burst: int, per_minute: float, *, max_senders: int = 10_000) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self.max_senders = max_senders
        self._tokens: dict[str, tuple[float, float]] = {}  # sender -> (tokens, at seconds)
        self.suppressed = 0

    def allow(self, sender: str, now: float) -> bool:
        tokens, then = self._tokens.get(sender, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - then) * self.rate)
        if len(self._tokens) >= self.max_senders and sender not in self._tokens:
            self._tokens.clear()  # bounded memory: forgetting only ever grants a fresh burst
        ok = tokens >= 1.0
        self._tokens[sender] = (tokens - 1.0 if ok else tokens, now)
        if not ok:
            self.suppressed += 1
        return ok
