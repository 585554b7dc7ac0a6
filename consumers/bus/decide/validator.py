"""One decision per ingress message: :class:`Accepted` (with its route plan) or :class:`Rejected`.

Pure and sans-I/O: the validate+route agent hands in the raw bytes, where they were read, the
sender's policy state and what it routed before; it gets back a decision and never an exception
(except for bugs). Checks run cheapest first: contract (size, decode, secret, limits, digests),
directory (sender, recipients, groups against the named snapshot), freshness, signatures and
certificates, then replay and per-sender continuity.

Re-processing after a crash: the bus may read a record again after it was routed but before the
offset was committed. Such a record is recognised by its message id, envelope hash **and ingress
position** and accepted again as a ``duplicate`` (re-routed; inboxes and the audit writer drop
copies by id). The same envelope arriving at another position is a replay and is rejected.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from consumers.bus.decide.policy import PolicyError, ReplayGuard, SenderState
from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.routing import RoutePlan, RoutingError, route_envelope
from consumers.trust import TrustError, TrustPolicy, TrustStore, VerifiedDocument
from schemas.canonical import envelope_signing_input
from schemas.codec import decode
from schemas.directory_store import DirectoryStore
from schemas.envelope import Envelope, check_envelope
from schemas.errors import ContractError
from schemas.limits import DEFAULT_LIMITS, Limits, check_message_size
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason
from schemas.signature import Signature

__all__ = ["Accepted", "Decision", "Rejected", "Validator", "trust_hashes"]

_MAX_TRUST_HASHES = 64  # AuditRecord.trust_hashes bound


@dataclass(frozen=True, slots=True)
class Accepted:
    envelope: Envelope
    raw: bytes
    plan: RoutePlan
    envelope_hash: bytes  # schemas.canonical.envelope_hash: what previous_hash and receipts name
    state: SenderState  # the sender's state after this envelope
    document: VerifiedDocument
    trust_hashes: tuple[bytes, ...]
    duplicate: bool = False  # the same record processed again: route again, advance nothing

    @property
    def sender(self) -> str:
        return self.plan.sender


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    detail: str
    sender: str | None = None  # the claimed sender (dotted) once the envelope decodes
    message_id: str | None = None
    envelope: Envelope | None = None
    notify: bool = False  # the sender is an active org of the directory: it gets a 02 notice
    trust_hashes: tuple[bytes, ...] = ()


Decision = Accepted | Rejected


class Validator:
    """Decides on ingress messages under one trust policy, directory store and replay guard."""

    def __init__(
        self,
        trust: TrustPolicy,
        directory: DirectoryStore,
        guard: ReplayGuard | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.trust = trust
        self.directory = directory
        self.guard = guard or ReplayGuard()
        self.limits = limits

    def check(
        self,
        raw: bytes,
        *,
        now: datetime,
        position: tuple[int, int],
        state_of: Callable[[str], SenderState],
        routed_of: Callable[[str], RoutedRecord | None],
    ) -> Decision:
        """``position``: (partition, offset) the record was read at; ``state_of(sender)``: the
        sender's policy state; ``routed_of(message_id)``: what the bus routed under that id."""
        try:  # schemas.envelope.parse_envelope in two steps: after decoding, the sender is known
            check_message_size(raw, self.limits)
            env = decode(raw, Envelope)
        except ContractError as exc:
            return Rejected(exc.reason, exc.detail)
        sender = canonical_org_code(env.sender.code)

        def reject(reason: Reason, detail: str, hashes: tuple[bytes, ...] = ()) -> Rejected:
            current = self.directory.current
            named = self.directory.get(env.directory_snapshot)
            notify = any(s is not None and s.is_active(sender) for s in (named, current))
            return Rejected(reason, detail, sender, env.message_id, env, notify, hashes)

        try:
            check_envelope(env, self.limits)
        except ContractError as exc:
            return reject(exc.reason, exc.detail)
        try:
            plan = route_envelope(self.directory, env.directory_snapshot, sender, env.recipients, env.groups)
            self.guard.check_fresh(env.created_at, now)
        except (RoutingError, PolicyError) as exc:
            return reject(exc.reason, exc.detail)
        # signing_time is the signer's unsigned claim and certificate validity is judged at it:
        # bound it by the signed, fresh created_at, or an expired key could backdate its way in
        earliest = env.created_at - self.trust.config.clock_skew
        for sig in env.signatures:
            if sig.signing_time < earliest:
                detail = f"{sig.role.value} signing_time {sig.signing_time.isoformat()} precedes created_at"
                return reject(Reason.STALE, detail)
        hashes = trust_hashes(self.trust.store, env.signatures)
        try:
            signing_input = envelope_signing_input(env)
            document = self.trust.verify_document(signing_input, env.signatures, sender, now=now)
        except TrustError as exc:
            role = f"{exc.role.value} signature: " if exc.role is not None else ""
            return reject(exc.reason, role + exc.detail, hashes)
        digest = hashlib.sha256(signing_input).digest()  # schemas.canonical.envelope_hash, once
        state = state_of(sender)
        before = routed_of(env.message_id)
        if before is not None:
            if before.envelope_hash == digest and before.position == position:
                if state.sequence < env.sequence:
                    # the routing record was stored but the sender state was not (a crash between
                    # the two): catch the state up, or the sender's next envelope would be a gap
                    with contextlib.suppress(PolicyError):
                        state = self.guard.check_and_advance(
                            state, message_id=env.message_id, sequence=env.sequence,
                            prev_hash=env.previous_hash, envelope_hash=digest,
                            created_at=env.created_at, now=now,
                        )  # fmt: skip
                return Accepted(env, raw, plan, digest, state, document, hashes, duplicate=True)
            where = f"partition {before.position[0]} offset {before.position[1]}"
            return reject(Reason.REPLAY, f"message id {env.message_id} already routed from {where}", hashes)
        try:
            after = self.guard.check_and_advance(
                state,
                message_id=env.message_id,
                sequence=env.sequence,
                prev_hash=env.previous_hash,
                envelope_hash=digest,
                created_at=env.created_at,
                now=now,
            )
        except PolicyError as exc:
            return reject(exc.reason, exc.detail, hashes)
        return Accepted(env, raw, plan, digest, after, document, hashes)


def trust_hashes(store: TrustStore, signatures: list[Signature]) -> tuple[bytes, ...]:
    """SHA-256 of every certificate (carried chains, and the anchor they lead to) and every CRL
    (DER) a decision on ``signatures`` relies on; at most 64, in first-use order."""
    out: dict[bytes, None] = {}
    for sig in signatures:
        for der in sig.chain:
            digest = hashlib.sha256(der).digest()
            out[digest] = None
            out.update(dict.fromkeys(_issuer_hashes(store, der, digest)))
    return tuple(list(out)[:_MAX_TRUST_HASHES])


# certificate digest -> (store, its generation, hashes of the issuer's CRL and anchors): without
# it, re-encoding names and CRLs took a third of a decision (benchmarks/bench_pipeline.py)
_LINKED: dict[bytes, tuple[TrustStore, int, tuple[bytes, ...]]] = {}


def _issuer_hashes(store: TrustStore, der: bytes, digest: bytes) -> tuple[bytes, ...]:
    held = _LINKED.get(digest)
    if held is not None and held[0] is store and held[1] == store.generation:
        return held[2]
    issuer = _issuer(der, digest)
    found: list[bytes] = []
    if issuer is not None:
        crl = store.crl_for(issuer)
        if crl is not None:
            found.append(hashlib.sha256(crl.public_bytes(Encoding.DER)).digest())
        found += [hashlib.sha256(a.public_bytes(Encoding.DER)).digest() for a in store.anchors_named(issuer)]
    if len(_LINKED) > 10_000:
        _LINKED.clear()
    _LINKED[digest] = (store, store.generation, tuple(found))
    return tuple(found)


_ISSUERS: dict[bytes, x509.Name | None] = {}


def _issuer(der: bytes, digest: bytes) -> x509.Name | None:
    # a few hundred distinct certificates at most on the bus: remember their issuers, keyed by
    # digest, as this runs before any signature check (junk of 16 KiB each must not pile up)
    if digest not in _ISSUERS:
        if len(_ISSUERS) > 10_000:
            _ISSUERS.clear()
        try:
            _ISSUERS[digest] = x509.load_der_x509_certificate(der).issuer
        # odd encodings raise ValueError, TypeError (a name attribute of a wrong ASN.1 type) or
        # InvalidVersion: the trust core refuses such a chain; here it only names no issuer
        except (ValueError, TypeError, x509.InvalidVersion):
            _ISSUERS[digest] = None
    return _ISSUERS[digest]
