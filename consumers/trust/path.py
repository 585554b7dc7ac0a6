"""RFC 5280 path building and validation with revocation, by pyhanko-certvalidator, offline.

The validator builds paths from an unordered set (the signer's chain plus the store's
intermediates) and checks name chaining, basicConstraints / pathLen, key usage, name constraints,
policies, CRLs (delta and issuingDistributionPoint included) and stapled OCSP responses, in mode
``require`` (every certificate below the anchor needs revocation information). What it is given
is chosen here: only CRLs that belong to the path and whose signature a certificate of their
issuer's name verifies (``TrustStore.crls_for``; docs/TRUST.md, "Revocation").

Every call into the validator is fail-closed: its own errors map to reason codes, anything else it
raises (RecursionError, TypeError, KeyError, NotImplementedError...) is VALIDATOR_FAILURE.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from asn1crypto import ocsp as a_ocsp
from asn1crypto import x509 as a_x509
from pyhanko_certvalidator import errors as v_errors
from pyhanko_certvalidator.context import ValidationContext
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy
from pyhanko_certvalidator.validate import async_validate_path

from consumers.trust.der import Cert, Crl
from consumers.trust.store import TrustStore
from schemas.errors import TrustError
from schemas.reasons import Reason

__all__ = ["PathResult", "validate_path"]

# the validator logs a warning per unusable CRL and more: a many-CRL store wrote tens of MB.
# Its verdicts reach us as exceptions, so only its errors are worth a log line.
logging.getLogger("pyhanko_certvalidator").setLevel(logging.ERROR)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PathResult:
    certs: tuple[Cert, ...]  # leaf first, ending with the anchor
    anchor: Cert
    next_update: datetime | None  # the earliest nextUpdate of the revocation data offered


@dataclass(frozen=True, slots=True)
class _Check:
    """What one validation is asked: the moment, the limits, the stapled OCSP, the revocation mode."""

    now: datetime
    tolerance: timedelta
    max_length: int
    min_rsa_bits: int
    allow_dsa: bool
    ocsp: Sequence[bytes]
    mode: str


def validate_path(
    chain: Sequence[Cert],
    store: TrustStore,
    *,
    now: datetime,
    tolerance: timedelta,
    max_length: int,
    min_rsa_bits: int,
    allow_dsa: bool,
    ocsp: Sequence[bytes] = (),
    require_revocation: bool = True,
) -> PathResult:
    """A validated path for ``chain[0]``. Validity windows are judged at a moment inside the
    path's window nearest ``now`` (the caller checks them at the signing time); revocation data
    must be fresh at that moment within ``tolerance``."""
    mode = "require" if require_revocation else "soft-fail"
    check = _Check(now, tolerance, max_length, min_rsa_bits, allow_dsa, ocsp, mode)
    try:
        return _validate(chain, store, check)
    except TrustError:
        raise
    except v_errors.ValidationError as exc:
        raise _refusal(exc) from None
    except v_errors.PathError as exc:
        raise TrustError(Reason.UNTRUSTED_CHAIN, f"no path to a trust anchor: {_brief(exc)}") from None
    except Exception as exc:  # the validator met something it cannot handle: refuse, never crash
        raise TrustError(Reason.VALIDATOR_FAILURE, _brief(exc)) from None


def _validate(chain: Sequence[Cert], store: TrustStore, check: _Check) -> PathResult:
    leaf = chain[0]
    if not store.anchor_certs:
        raise TrustError(Reason.UNTRUSTED_CHAIN, "no trust anchor configured")
    pool = {c.sha256: c for c in (*chain, *store.intermediate_certs, *store.anchor_certs)}
    # the validator finds an issuer only by the issuer name (its subject map), so a path can pass
    # only through certificates reached by name chaining from the leaf: it is given those, not
    # the whole store (registering each certificate costs it a parse of its names)
    known = _named(pool, [leaf.issuer], keep=leaf)
    anchors = [c for c in store.anchor_certs if c.sha256 in known]
    if not anchors:
        raise TrustError(Reason.UNTRUSTED_CHAIN, "no path to a trust anchor")
    # fresh objects per validation: the validator's use of an asn1crypto object can change how it
    # re-encodes (unique-ID fields), so state must not carry from one validation to the next; it
    # hands back the objects it was given, so they map back by identity
    fresh = {sha: a_x509.Certificate.load(c.der) for sha, c in known.items()}
    by_id = {id(fresh[sha]): c for sha, c in known.items()}
    roots = [fresh[a.sha256] for a in anchors]
    others = [fresh[sha] for sha, c in known.items() if c not in anchors]
    builder = ValidationContext(trust_roots=roots, other_certs=others, crls=[], revocation_mode="soft-fail")
    paths: list[ValidationPath] = _offline(builder.path_builder.async_build_paths(fresh[leaf.sha256]))
    if not paths:
        raise TrustError(Reason.UNTRUSTED_CHAIN, "no path to a trust anchor")
    policy = DisallowWeakAlgorithmsPolicy(  # type: ignore[no-untyped-call]
        # outside the sector profile (conformance suites), SHA-1 as DSA-1024 needs it
        weak_hash_algos={"md2", "md5"} if check.allow_dsa else {"md2", "md5", "sha1"},
        rsa_key_size_threshold=check.min_rsa_bits,
        dsa_key_size_threshold=1024 if check.allow_dsa else 1 << 20,
    )
    stapled = [a_ocsp.OCSPResponse.load(der) for der in check.ocsp]
    errors: list[Exception] = []
    for path in paths:
        certs = tuple(by_id[id(c)] for c in reversed(list(path.iter_certs(include_root=True))))
        if len(certs) > check.max_length:
            detail = f"{len(certs)} certificates > {check.max_length}"
            errors.append(TrustError(Reason.CHAIN_TOO_LONG, detail))
            continue
        crls = store.crls_for(certs)
        # the revocation check looks up the CRLs' signers by name as well: add what their issuer
        # names (and the path's cRLIssuer names) reach
        extra = _named(pool, [*(c.issuer for c in crls), *(n for c in certs for n in c.crl_issuers)])
        for sha, cert in extra.items():
            if sha not in fresh:
                fresh[sha] = a_x509.Certificate.load(cert.der)
                by_id[id(fresh[sha])] = cert
        context = ValidationContext(
            trust_roots=roots,
            other_certs=[*others, *(fresh[sha] for sha in extra if sha not in known)],
            crls=[c.der for c in crls],
            ocsps=stapled,
            moment=_moment(certs, check.now),
            revocation_mode=check.mode,
            retroactive_revinfo=True,
            time_tolerance=check.tolerance,
            algorithm_usage_policy=policy,
        )
        try:
            _offline(async_validate_path(context, path))
        except (v_errors.ValidationError, TrustError) as exc:
            errors.append(exc)
            continue
        return PathResult(certs, certs[-1], _next_update(crls, stapled))
    raise _pick(errors)


def _named(pool: dict[bytes, Cert], names: Sequence[str], keep: Cert | None = None) -> dict[bytes, Cert]:
    """The certificates of ``pool`` whose subject is one of ``names``, and transitively those whose
    subject is the issuer of one taken (RFC 5280 normalised names), in ``pool``'s order; ``keep``
    first if given."""
    by_subject: dict[str, list[Cert]] = {}
    for cert in pool.values():
        by_subject.setdefault(cert.subject, []).append(cert)
    taken: set[bytes] = set() if keep is None else {keep.sha256}
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for cert in by_subject.get(name, ()):
            if cert.sha256 not in taken:
                taken.add(cert.sha256)
                todo.append(cert.issuer)
    return {sha: c for sha, c in pool.items() if sha in taken}


def _moment(certs: Sequence[Cert], now: datetime) -> datetime:
    """``now``, or the end of the path's validity if that has passed: a signature made while the
    path was valid stays verifiable (the caller checks the signing time against the window)."""
    return min(now, min(c.not_after for c in certs))


def _next_update(crls: Sequence[Crl], stapled: Sequence[a_ocsp.OCSPResponse]) -> datetime | None:
    times = [c.next_update for c in crls if c.next_update is not None]
    for response in stapled:
        try:
            for single in response.basic_ocsp_response["tbs_response_data"]["responses"]:
                nu = single["next_update"].native
                if nu is not None:
                    times.append(nu)
        except Exception:
            continue  # the validator refused or ignored it
    return min(times) if times else None


def _offline(coro: Coroutine[Any, Any, T]) -> T:
    """Run a validator coroutine that never needs to wait: offline, it has no I/O to await, so
    one step finishes it. Works inside a running event loop (the agents'), unlike asyncio.run."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise TrustError(Reason.VALIDATOR_FAILURE, "the path validator tried to wait for I/O offline")


def _pick(errors: list[Exception]) -> TrustError:
    """The most telling refusal among the paths tried: a revocation first, then anything but a
    signature mismatch (the usual failure of a path through a same-named impostor)."""
    refusals = [e if isinstance(e, TrustError) else _refusal(e) for e in errors]
    for reason in (Reason.CERT_REVOKED,):
        for r in refusals:
            if r.reason is reason:
                return r
    for r in reversed(refusals):
        if "signature" not in r.detail.lower():
            return r
    return refusals[0] if refusals else TrustError(Reason.UNTRUSTED_CHAIN, "no path")


def _refusal(exc: Exception) -> TrustError:
    text = _brief(exc)
    low = text.lower()
    if isinstance(exc, v_errors.RevokedError):
        return TrustError(Reason.CERT_REVOKED, text)
    if isinstance(exc, v_errors.InsufficientRevinfoError):
        return TrustError(Reason.CRL_UNAVAILABLE, text)
    if isinstance(exc, v_errors.ExpiredError):
        return TrustError(Reason.CERT_EXPIRED, text)
    if isinstance(exc, v_errors.NotYetValidError):
        return TrustError(Reason.CERT_NOT_YET_VALID, text)
    if isinstance(exc, v_errors.DisallowedAlgorithmError):
        return TrustError(Reason.KEY_TOO_WEAK if "key size" in low else Reason.ALG_NOT_ALLOWED, text)
    if "name constraint" in low or "permitted" in low or "excluded" in low:
        return TrustError(Reason.NAME_CONSTRAINTS, text)
    if "polic" in low:
        return TrustError(Reason.CERT_POLICY, text)
    return TrustError(Reason.UNTRUSTED_CHAIN, text)


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"
