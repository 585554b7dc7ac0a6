"""One decision per ingress message: :class:`Accepted` (with its route plan) or :class:`Rejected`.

Pure and sans-I/O: the validate+route agent hands in the raw bytes, where they were read, the
sender's policy state and what it routed before; it gets back a decision and never an exception
(except for bugs). The acceptance rules are the bus's policy of consumers/bus/decide/rules.py
(:data:`~consumers.bus.decide.rules.BUS_ENVELOPE`: contract, directory, freshness, signing time,
seal, official); then replay and per-sender continuity, which need the bus's state.

Re-processing after a crash: the bus may read a record again after it was routed but before the
offset was committed. Such a record is recognised by its message id, envelope hash **and ingress
position** and accepted again as a ``duplicate`` (re-routed; inboxes and the audit writer drop
copies by id). The same bytes arriving at another position are a ``resend`` (idempotent: the
sender's 01 again, nothing else); another envelope under a routed message id is a REPLAY.
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import TypeAdapter

from consumers.bus.decide.policy import PolicyError, ReplayGuard, SenderState
from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.routing import RoutePlan
from consumers.bus.decide.rules import BUS_ENVELOPE, RULES, AcceptanceConfig, AllOf, Subject
from consumers.trust import Purpose, TrustError, TrustPolicy, TrustStore, VerifiedDocument
from consumers.trust.leaf import org_binds, read_leaf
from schemas.algorithms import check_key, parse_algorithm, verify_raw
from schemas.canonical import envelope_signing_input
from schemas.codec import construct_unchecked
from schemas.continuity import chain_id
from schemas.directory_store import DirectoryStore
from schemas.document import BusinessType, number_key
from schemas.envelope import Envelope
from schemas.errors import ContractError, DocbusError
from schemas.fields import MessageId, OrgCode
from schemas.header import DocumentIdText
from schemas.limits import DEFAULT_LIMITS, Limits, check_signature_limits
from schemas.orgcode import canonical_org_code
from schemas.reasons import Reason
from schemas.signature import Signature, SignerRole
from schemas.text import nfc

__all__ = ["Accepted", "Decision", "NumberHolder", "Rejected", "Validator", "trust_hashes"]

_MAX_TRUST_HASHES = 64  # AuditRecord.trust_hashes bound


@dataclass(frozen=True, slots=True)
class Accepted:
    envelope: Envelope
    raw: bytes
    plan: RoutePlan
    signing_hash: bytes  # schemas.canonical.signing_hash: what previous_hash and receipts name
    state: SenderState  # the sender's state after this envelope
    document: VerifiedDocument
    trust_hashes: tuple[bytes, ...]
    duplicate: bool = False  # the same record processed again: route again, advance nothing
    # the same bytes sent again (same message id and envelope hash, another ingress position), e.g.
    # after a publish whose acknowledgement the node never saw: the sender gets its 01 again, nothing
    # else is written (no copy, no quarantine record, no REJECTED event, no 02)
    resend: bool = False

    @property
    def sender(self) -> str:
        return self.plan.sender

    @property
    def chain(self) -> str:
        """The (sender, channel) chain this envelope counts in (schemas.continuity.chain_id)."""
        return chain_id(self.plan.sender, self.envelope.channel)


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    detail: str
    sender: str | None = None  # the claimed sender (dotted) once the envelope decodes
    message_id: str | None = None
    envelope: Envelope | None = None
    notify: bool = False  # the sender is an active org of the directory: it gets a 02 notice
    trust_hashes: tuple[bytes, ...] = ()
    # an authenticated sender's refused envelope still takes its place in the sender's chain (the
    # node used the number): the state after it, so the sender's next envelope is not a gap
    state: SenderState | None = None
    # what the 02 answers when ``notify`` (default: ``envelope``): refused for a field (INVALID_FIELD) or
    # trailing bytes (MALFORMED), the envelope as its authenticated signer built it (never routed)
    notice_of: Envelope | None = None
    chain: str | None = None  # the (sender, channel) chain of ``state`` and ``position``
    # the chain's position as the bus holds it after this refusal, stated in the sealed 02 (the
    # source a node resyncs from); None when not known here (a record of another sender's key)
    position: SenderState | None = None


Decision = Accepted | Rejected


class Validator:
    """Decides on ingress messages under one trust policy, directory store and replay guard."""

    def __init__(
        self,
        trust: TrustPolicy,
        directory: DirectoryStore,
        guard: ReplayGuard | None = None,
        limits: Limits = DEFAULT_LIMITS,
        policy: AllOf = BUS_ENVELOPE,
    ) -> None:
        self.trust = trust
        self.directory = directory
        self.guard = guard or ReplayGuard()
        self.limits = limits
        # one configuration of windows and limits: the guard's windows, these limits
        cfg = self.guard.config
        self.config = AcceptanceConfig(limits=limits, max_age=cfg.max_age, max_skew=cfg.max_skew)
        self.policy = policy
        # the policy's freshness rule judges created_at at the same ``now`` under the guard's windows
        # (``config`` above): the guard need not judge it again
        self._fresh_rule = RULES["fresh"] in policy.rules

    def check(
        self,
        raw: bytes,
        *,
        now: datetime,
        position: tuple[int, int],
        state_of: Callable[[str], SenderState],
        routed_of: Callable[[str], RoutedRecord | None],
        record_key: bytes | None = None,
        number_of: Callable[[str], NumberHolder | None] = lambda _key: None,
    ) -> Decision:
        """``position``: (partition, offset) the record was read at; ``state_of(chain)``: the
        policy state of a (sender, channel) chain (schemas.continuity.chain_id: the bare sender
        code for the default channel); ``routed_of(message_id)``: what the bus routed under that id;
        ``record_key``: the ingress record's key, when the caller checks it (the agent does);
        ``number_of(key)``: the routed document holding a số/ký hiệu (schemas.document.number_key).

        A record keyed other than by its envelope's sender code sits on a partition whose tables do
        not hold that sender's chain: it is refused RECORD_KEY before any state is looked at or
        moved (the sender is told and publishes the same bytes again, keyed; nothing is lost)."""
        s = Subject(raw=raw, now=now, trust=self.trust, config=self.config, directory=self.directory)
        try:
            self.policy.verify(s)
        except DocbusError as exc:
            return self._refused(s, exc, state_of if self._keyed(s, record_key) else None)
        env, plan, document = s.envelope, s.plan, s.document
        assert env is not None and plan is not None and document is not None  # the policy's rules set them
        if not self._keyed(s, record_key):
            got = (record_key or b"").decode("utf-8", "replace")[:40]
            detail = f"record key {got!r} is not the sender code {s.signer!r}: publish it keyed by the code"
            return self._refused(s, PolicyError(Reason.RECORD_KEY, detail))
        hashes = trust_hashes(self.trust.store, env.signatures)
        digest = hashlib.sha256(s.signing_input).digest()  # schemas.canonical.signing_hash, once
        chain = chain_id(s.signer, env.channel)
        state = state_of(chain)
        before = routed_of(env.message_id)
        if before is not None:
            if before.signing_hash == digest and before.position == position:
                if state.sequence < env.sequence:
                    # the routing record was stored but the sender state was not (a crash between
                    # the two): catch the state up, or the sender's next envelope would be a gap
                    with contextlib.suppress(PolicyError):
                        state = self.guard.check_and_advance(
                            state, message_id=env.message_id, sequence=env.sequence,
                            prev_hash=env.previous_hash, signing_hash=digest,
                            created_at=env.created_at, now=now,
                        )  # fmt: skip
                return Accepted(env, raw, plan, digest, state, document, hashes, duplicate=True)
            if before.signing_hash == digest:
                return Accepted(env, raw, plan, digest, state, document, hashes, duplicate=True, resend=True)
            where = f"partition {before.position[0]} offset {before.position[1]}"
            detail = f"message id {env.message_id} already routed from {where}"
            return self._refused(s, PolicyError(Reason.REPLAY, detail), state_of)
        taken = _number_taken(env, s.signer, number_of)
        if taken is not None:
            return self._refused(s, taken, state_of)
        try:
            after = self.guard.check_and_advance(
                state,
                message_id=env.message_id,
                sequence=env.sequence,
                prev_hash=env.previous_hash,
                signing_hash=digest,
                created_at=env.created_at,
                now=now,
                freshness_judged=self._fresh_rule,
            )
        except PolicyError as exc:
            return self._refused(s, exc, state_of)
        return Accepted(env, raw, plan, digest, after, document, hashes)

    @staticmethod
    def _keyed(s: Subject, record_key: bytes | None) -> bool:
        return record_key is None or s.envelope is None or record_key == s.signer.encode()

    def _refused(
        self, s: Subject, exc: DocbusError, state_of: Callable[[str], SenderState] | None = None
    ) -> Rejected:
        env = s.envelope or _unchecked_envelope(s, exc)
        if env is None:
            return Rejected(exc.reason, exc.detail)
        detail = exc.detail
        if isinstance(exc, TrustError) and exc.role is not None:
            detail = f"{exc.role.value} signature: {detail}"
        # the trust material a decision relied on: only once the signatures were looked at
        relied = s.authenticated or isinstance(exc, TrustError)
        authenticated = self._authenticated(s, env)  # verifies the seal when no rule did
        hashes = trust_hashes(self.trust.store, env.signatures) if relied else ()
        state = position = None
        chain = chain_id(s.signer, env.channel)
        if authenticated and state_of is not None:
            position = state_of(chain)
            with contextlib.suppress(PolicyError):
                state = position = self.guard.advance_chain(
                    position, message_id=env.message_id, sequence=env.sequence,
                    prev_hash=env.previous_hash, envelope_hash=hashlib.sha256(s.signing_input).digest(),
                    created_at=env.created_at, now=s.now,
                )  # fmt: skip
        return Rejected(
            exc.reason, detail, s.signer, env.message_id, s.envelope, authenticated, hashes, state,
            notice_of=env if authenticated else None, chain=chain, position=position,
        )  # fmt: skip

    def _has_inbox(self, env: Envelope, signer: str) -> bool:
        named, current = self.directory.get(env.directory_snapshot), self.directory.current
        return any(snap is not None and snap.is_active(signer) for snap in (named, current))

    def _authenticated(self, s: Subject, env: Envelope) -> bool:
        """A 02 goes only to a sender whose seal verifies (a forgery naming an org gets that org no
        notice) and who has an inbox: an org of the directory, active in a snapshot held. A refusal
        before the seal rule costs one seal check here, bounded by the signature limits."""
        if not s.signing_input:
            return False
        try:  # a signature block over the limits is never verified (it is what bounds the cost)
            check_signature_limits(env.signatures, self.limits)
        except ContractError:
            return False
        if not self._has_inbox(env, s.signer):
            return False
        if not s.authenticated:
            try:
                self.trust.verify_seal(s.signing_input, env.signatures, s.signer, s.now)
            except TrustError as exc:
                return exc.reason in _LAPSED and _genuine(s, env)
        return True


@dataclass(frozen=True, slots=True)
class NumberHolder:
    """The routed document that holds a số/ký hiệu this year (the bus's ``documents`` table)."""

    message_id: str
    document_id: str

    def to_bytes(self) -> bytes:
        return f"{self.message_id}\n{self.document_id}".encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> NumberHolder:
        message_id, document_id = data.decode("utf-8").split("\n", 1)
        return cls(message_id, document_id)


_AMENDS = {BusinessType.UPDATE, BusinessType.REPLACE}


def _number_taken(
    env: Envelope, sender: str, number_of: Callable[[str], NumberHolder | None]
) -> PolicyError | None:
    """DUPLICATE_DOCUMENT when another routed envelope holds this số/ký hiệu for this issuer this
    year, unless this one is an edXML update or replacement naming that document."""
    doc = env.document
    holder = number_of(number_key(sender, doc.promulgation_date, doc.code_number, doc.code_notation))
    if holder is None or holder.message_id == env.message_id:
        return None
    named = env.edxml.business.document_id if env.edxml and env.edxml.business else None
    if doc.business_type in _AMENDS and named is not None and nfc(named) == nfc(holder.document_id):
        return None
    number = f"{doc.code_number}/{doc.code_notation} of {doc.promulgation_date.year}"
    detail = f"{number} is already {holder.document_id} (message {holder.message_id}); an update or " \
             "replacement names it"  # fmt: skip
    return PolicyError(Reason.DUPLICATE_DOCUMENT, detail)


# an envelope refused for a field its contract forbids (INVALID_FIELD) or for bytes after its body
# (MALFORMED) still names its sender and carries its signatures: read it without the rules, so
# an authenticated sender with a field bug is told why (a 02) instead of waiting forever
_READABLE = {Reason.INVALID_FIELD, Reason.MALFORMED}
_NOTICE_FIELDS = TypeAdapter(tuple[MessageId, OrgCode, DocumentIdText, list[Signature]])


def _unchecked_envelope(s: Subject, exc: DocbusError) -> Envelope | None:
    """The refused envelope as its signer built it, or None when what a notice needs (message id,
    sender code, document id, signatures) breaks the contract too or no signing input results."""
    record = s.record
    if exc.reason not in _READABLE or record is None:
        return None
    try:
        sender = record["sender"]["code"]
        document_id = record["document"]["document_id"]
        _, code, _, sigs = _NOTICE_FIELDS.validate_python(
            (record["message_id"], sender, document_id, record["signatures"])
        )
        env = construct_unchecked(Envelope, record).model_copy(update={"signatures": sigs})
        s.signing_input = envelope_signing_input(env)
        if not isinstance(env.sequence, int) or not isinstance(env.previous_hash, bytes):
            return None
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, struct.error, DocbusError):
        return None  # pydantic's ValidationError is a ValueError
    s.signer = canonical_org_code(code)
    return env


# a seal whose certificate is revoked or expired still tells who signed, when its value verifies
# under that certificate's key for that org: the org learns why (e.g. right after a key rotation)
_LAPSED = {Reason.CERT_REVOKED, Reason.CERT_EXPIRED, Reason.CERT_NOT_YET_VALID}


def _genuine(s: Subject, env: Envelope) -> bool:
    sigs = [sig for sig in env.signatures if sig.role is SignerRole.ORGANIZATION]
    if len(sigs) != 1 or not sigs[0].chain:
        return False
    sig = sigs[0]
    try:
        cert = x509.load_der_x509_certificate(sig.chain[0])
        if not org_binds(read_leaf(cert).org_code, s.signer, Purpose.ORGANIZATION):
            return False
        alg = parse_algorithm(sig.algorithm)
        verify_raw(
            alg, check_key(alg, cert.public_key(), s.trust.config.min_rsa_bits), sig.value, s.signing_input
        )
    except (DocbusError, ValueError, TypeError, x509.InvalidVersion):
        return False
    return True


def trust_hashes(store: TrustStore, signatures: list[Signature]) -> tuple[bytes, ...]:
    """SHA-256 of every certificate (carried chains, and the anchor they lead to) and every CRL
    (DER) a decision on ``signatures`` relies on; at most 64, in first-use order."""
    # all the answer depends on, with the store
    ders = tuple([der for sig in signatures for der in sig.chain])
    # found by each signature's leaf certificate's last bytes (its signature's), then compared whole:
    # hashing the DER of every chain again cost ~1-2 µs a decision
    probe = tuple([sig.chain[0][-32:] for sig in signatures if sig.chain])
    held = _RELIED.get(probe)
    if held is not None and held[0] is store and held[1] == store.generation and held[2] == ders:
        return held[3]
    out: dict[bytes, None] = {}
    for der in ders:
        digest = hashlib.sha256(der).digest()
        out[digest] = None
        out.update(dict.fromkeys(_issuer_hashes(store, der, digest)))
    found = tuple(list(out)[:_MAX_TRUST_HASHES])
    if len(_RELIED) > 1_000:
        _RELIED.clear()
    _RELIED[probe] = (store, store.generation, ders, found)
    return found


# the certificates' last bytes -> (store, its generation, the certificates, trust_hashes): every
# envelope of a sender carries the same chains, and hashing them again was 5% of a decision
_RELIED: dict[tuple[bytes, ...], tuple[TrustStore, int, tuple[bytes, ...], tuple[bytes, ...]]] = {}


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
