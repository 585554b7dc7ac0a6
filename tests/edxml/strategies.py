"""Hypothesis strategies for edXML package contents that a package can carry exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import strategies as st

from producers.edxml._names import type_name
from producers.edxml.reader import PackageContent
from schemas.document import (
    BusinessType,
    Competence,
    DocumentType,
    Priority,
    SteeringType,
    format_document_id,
)
from schemas.edxml import EdxmlAttachment, EdxmlBusiness, EdxmlDetails, EdxmlOrgan, EdxmlStaff
from schemas.header import DocumentHeader, Organization, SignerInfo, TraceHop
from schemas.orgcode import canonical_org_code
from schemas.payload import Payload

__all__ = ["package_contents"]

# what XML text carries unchanged: no control characters; values are read stripped
_ALPHABET = st.characters(categories=("L", "N", "P", "S", "Zs"))
codes = st.from_regex(r"[A-Z][0-9]{2}(\.[0-9]{2}){0,2}", fullmatch=True) | st.from_regex(
    r"000\.00\.[0-9]{2}\.[A-Z][0-9]{2}", fullmatch=True
)
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
seconds = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))
ids = st.builds(format_document_id, codes, days, st.just("01"), st.just("VP"))


def texts(min_size: int = 0, max_size: int = 30) -> st.SearchStrategy[str]:
    return st.text(_ALPHABET, max_size=max_size).map(str.strip).filter(lambda s: len(s) >= min_size)


def _organ(code: str) -> st.SearchStrategy[EdxmlOrgan]:
    return st.builds(
        EdxmlOrgan, code=st.just(code), name=texts(), in_charge=texts(), address=texts(), email=texts(),
        phone=texts(), fax=texts(), website=texts(),
    )  # fmt: skip


payloads = st.builds(
    Payload.of,
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_ -]{0,20}\.(pdf|docx|xlsx)", fullmatch=True),
    st.sampled_from(["application/pdf", "application/octet-stream", "text/plain; charset=utf-8"]),
    st.binary(max_size=300),
)


@st.composite
def _competence(draw: st.DrawFn) -> tuple[Competence, str]:
    kind = draw(st.sampled_from(Competence))
    if kind is Competence.NONE:
        return kind, draw(st.sampled_from(["", "Trực tiếp", "Người ký"]))
    return kind, (kind.value + draw(st.sampled_from(["", " ", " CỤC TRƯỞNG", " BỘ TRƯỞNG"]))).strip()


@st.composite
def package_contents(draw: st.DrawFn) -> PackageContent:
    sender_code = draw(codes)
    recipients = draw(st.lists(codes, min_size=1, max_size=4, unique_by=lambda c: c))
    if len({canonical_org_code(c) for c in recipients}) != len(recipients):
        recipients = recipients[:1]
    day = draw(days)
    number = draw(st.from_regex(r"[0-9]{1,11}", fullmatch=True))
    notation = draw(st.from_regex(r"[A-ZĐ][A-ZĐ0-9-]{0,29}", fullmatch=True))
    kind = draw(st.sampled_from(DocumentType))
    competence, competence_text = draw(_competence())
    business_type = draw(st.sampled_from(BusinessType))
    business = draw(
        (st.none() if business_type is BusinessType.NEW else st.nothing())
        | st.builds(
            EdxmlBusiness,
            document_id=st.none() | ids,
            reason=texts(),
            paper=st.none() | st.integers(0, 1),
            staff=st.none()
            | st.builds(EdxmlStaff, department=texts(), staff=texts(), email=texts(), mobile=texts()),
        )
    )
    document = DocumentHeader(
        document_id=format_document_id(sender_code, day, number, notation),
        code_number=number,
        code_notation=notation,
        document_type=kind,
        subject=draw(texts(1, 500)),
        promulgation_place=draw(texts(1, 100)),
        promulgation_date=day,
        signer=SignerInfo(competence=competence, position=draw(texts(1)), full_name=draw(texts(1))),
        priority=draw(st.sampled_from(Priority)),
        due_date=draw(st.none() | days),
        places=draw(st.lists(texts(1), max_size=4)),
        steering_type=draw(st.sampled_from(SteeringType)),
        response_for=draw(st.none() | ids),
        business_type=business_type,
    )
    files = draw(st.lists(payloads, min_size=1, max_size=4))
    cids = draw(st.lists(st.from_regex(r"(cid:)?[a-z0-9]{1,12}", fullmatch=True), min_size=len(files),
                         max_size=len(files), unique_by=lambda c: c.removeprefix("cid:")))  # fmt: skip
    details = EdxmlDetails(
        sender_fax=draw(texts()),
        to=[draw(_organ(c)) for c in recipients],
        content=draw(texts(0, 200)),
        type_code=draw(st.from_regex(r"[0-9]{1,2}", fullmatch=True)),
        type_detail=draw(st.sampled_from(["", "0", "1"])),
        type_name=draw(st.sampled_from([type_name(kind), type_name(kind).upper()])),
        competence_text=competence_text,
        sphere=draw(texts()),
        typer_notation=draw(texts()),
        promulgation_amount=draw(st.none() | st.integers(0, 2**31 - 1)),
        page_amount=draw(st.none() | st.integers(0, 2**31 - 1)),
        direction=draw(st.none() | st.booleans()),
        appendixes=draw(st.lists(texts(1), max_size=3)),
        business=business,
        attachments=[EdxmlAttachment(content_id=c, description=draw(texts())) for c in cids],
    )
    sender = Organization(
        code=sender_code, name=draw(texts(1)), in_charge=draw(texts()), address=draw(texts()),
        email=draw(texts()), phone=draw(texts()), website=draw(texts()),
    )  # fmt: skip
    trace = draw(st.lists(st.builds(TraceHop, org_code=codes, at=seconds), max_size=3))
    return PackageContent(sender, recipients, document, trace, files[0], files[1:], details)
