"""The receipt lifecycle of one recipient: which edXML status may follow which (schemas/lifecycle.py)."""

from __future__ import annotations

import pytest

from schemas.errors import ContractError
from schemas.lifecycle import Recall, RecipientState, follow, follows
from schemas.reasons import Reason
from schemas.receipt import StatusCode

S = StatusCode


def replay(*codes: str) -> RecipientState:
    state = RecipientState()
    for code in codes:
        state = follow(state, S(code))
    return state


@pytest.mark.parametrize(
    "codes",
    [("01", "03", "04", "05", "06"), ("01", "03", "06"), ("02",), ("01", "02"),
     ("01", "01", "03", "05", "05"), ("13", "01", "16", "03"), ("01", "03", "13", "15"),
     ("01", "13", "16", "13", "15")],
)  # fmt: skip
def test_orders_a_recipient_may_answer_in(codes: tuple[str, ...]) -> None:
    replay(*codes)


@pytest.mark.parametrize(
    ("codes", "then"),
    [((), "03"), (("01",), "06"), (("02",), "03"), (("01", "03", "06"), "03"), (("01", "03", "05"), "04"),
     ((), "15"), (("01",), "16"), (("01", "13", "15"), "03"), (("01", "13"), "13"),
     (("01", "13", "15"), "13")],
)  # fmt: skip
def test_out_of_order_is_refused_with_a_reason(codes: tuple[str, ...], then: str) -> None:
    state = replay(*codes)
    assert not follows(state, S(then))
    with pytest.raises(ContractError) as caught:
        follow(state, S(then))
    assert caught.value.reason is Reason.RECEIPT_ORDER and then in caught.value.detail


def test_who_is_settled() -> None:
    assert not replay().settled and not replay("01", "03", "04").settled
    assert replay("01", "03", "05").settled and replay("01", "03", "04", "05", "06").settled  # done: 05, 06
    assert replay("02").settled and replay("01", "03", "06").settled and replay("01", "13", "15").settled
    assert not replay("01", "03", "06", "13").settled  # a recall waits for its answer
    assert replay("01", "03", "06", "13", "16").settled
    assert replay("01", "13", "16").recall is Recall.REFUSED and not replay("01", "13", "16").settled


@pytest.mark.parametrize("codes", [(), ("01",), ("01", "03", "13"), ("02", "13", "15")])
def test_the_stored_state_round_trips(codes: tuple[str, ...]) -> None:
    state = replay(*codes)
    assert RecipientState.from_bytes(state.to_bytes()) == state
