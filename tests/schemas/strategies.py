"""Hypothesis strategies producing valid contract records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from hypothesis import strategies as st

from schemas.document import (
    BusinessType,
    Competence,
    DocumentType,
    Priority,
    SecurityLevel,
    SteeringType,
    format_document_id,
)
from schemas.envelope import Envelope
from schemas.header import DocumentHeader, Organization, SignerInfo, TraceHop
from schemas.payload import Payload
from schemas.quarantine import QuarantineRecord
from schemas.reasons import Reason
from schemas.receipt import Receipt, StatusCode
from schemas.signature import Signature, SignerRole

__all__ = ["envelopes", "quarantine_records", "receipts"]

dotted_codes = st.from_regex(r"[A-Z][0-9]{2}(\.[0-9]{2}){0,3}", fullmatch=True)
edxml_codes = st.from_regex(r"000\.00\.00\.[A-Z][0-9]{2}", fullmatch=True)
org_codes = dotted_codes | edxml_codes
uuids = st.uuids().map(str)
sha256s = st.binary(min_size=32, max_size=32)
times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1))


def texts(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(min_size=min_size, max_size=max_size)


signatures = st.builds(
    Signature,
    role=st.sampled_from(SignerRole),
    algorithm=texts(),
    chain=st.lists(st.binary(max_size=40), max_size=4),
    signing_time=times,
    value=st.binary(max_size=80),
)
payloads = st.builds(
    Payload.of,
    st.from_regex(r"[a-z0-9_-]{1,20}\.(pdf|docx|xlsx)", fullmatch=True),
    st.sampled_from(["application/pdf", "application/octet-stream", "text/plain; charset=utf-8"]),
    st.binary(max_size=200),
)
organizations = st.builds(
    Organization,
    code=org_codes,
    name=texts(1, 60),
    in_charge=texts(),
    address=texts(),
    email=texts(),
    phone=texts(),
    website=texts(),
)
groups = (
    st.sampled_from(["all-departments", "all-universities", "all-so-gddt"])
    | dotted_codes.map("children:{}".format)
    | st.from_regex(r"list:[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
)


@st.composite
def document_headers(draw: st.DrawFn, organ_id: str) -> DocumentHeader:
    day = draw(dates)
    number = draw(st.from_regex(r"[0-9]{1,11}", fullmatch=True))
    notation = draw(st.from_regex(r"[A-ZĐ][A-ZĐ-]{0,29}", fullmatch=True))
    respond = draw(
        st.none() | st.builds(format_document_id, dotted_codes, dates, st.just("01"), st.just("VP"))
    )
    return DocumentHeader(
        document_id=format_document_id(organ_id, day, number, notation),
        code_number=number,
        code_notation=notation,
        document_type=draw(st.sampled_from(DocumentType)),
        subject=draw(texts(1, 500)),
        promulgation_place=draw(texts(1, 100)),
        promulgation_date=day,
        signer=SignerInfo(
            competence=draw(st.sampled_from(Competence)), position=draw(texts(1)), full_name=draw(texts(1))
        ),
        priority=draw(st.sampled_from(Priority)),
        due_date=draw(st.none() | dates),
        places=draw(st.lists(texts(1), max_size=4)),
        steering_type=draw(st.sampled_from(SteeringType)),
        response_for=respond,
        business_type=draw(st.sampled_from(BusinessType)),
        security_level=draw(st.sampled_from(SecurityLevel)),
    )


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    sender = draw(organizations)
    recipients = draw(st.lists(dotted_codes, max_size=5, unique=True))
    fields: dict[str, Any] = {
        "message_id": draw(uuids),
        "sender": sender,
        "recipients": recipients,
        "groups": draw(st.lists(groups, min_size=0 if recipients else 1, max_size=3, unique=True)),
        "document": draw(document_headers(sender.code)),
        "trace": draw(st.lists(st.builds(TraceHop, org_code=org_codes, at=times), max_size=3)),
        "created_at": draw(times),
        "sequence": draw(st.integers(min_value=1, max_value=2**63 - 1)),
        "previous_hash": draw(sha256s),
        "directory_snapshot": draw(sha256s),
        "payload": draw(payloads),
        "attachments": draw(st.lists(payloads, max_size=3)),
        "signatures": draw(st.lists(signatures, max_size=3)),
    }
    return Envelope(**fields)


@st.composite
def receipts(draw: st.DrawFn) -> Receipt:
    status = draw(st.sampled_from(StatusCode))
    return Receipt(
        message_id=draw(uuids),
        envelope_id=draw(uuids),
        signing_hash=draw(sha256s),
        document_id=format_document_id(draw(org_codes), draw(dates), "12", "SGDĐT-VP"),
        from_org=draw(org_codes),
        to_org=draw(org_codes),
        status=status,
        reason=draw(texts(1 if status.needs_reason else 0)).strip()
        or ("lý do" if status.needs_reason else ""),
        by_name=draw(texts()),
        by_position=draw(texts()),
        at=draw(times),
        signatures=draw(st.lists(signatures, max_size=2)),
    )


quarantine_records = st.builds(
    QuarantineRecord,
    raw=st.binary(max_size=300),
    reason=st.sampled_from(Reason),
    detail=texts(max_size=200),
    topic=st.from_regex(r"docbus\.[a-z.]{1,20}", fullmatch=True),
    partition=st.integers(min_value=0, max_value=2**31 - 1),
    offset=st.integers(min_value=0, max_value=2**63 - 1),
    at=times,
    message_id=st.none() | uuids,
)
