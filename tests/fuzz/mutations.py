"""Byte-level mutations of valid messages, as Hypothesis strategies and plain functions."""

from __future__ import annotations

from hypothesis import strategies as st

from schemas.codec import MARKER

HEADER = len(MARKER) + 8


def zigzag_long(value: int) -> bytes:
    """Avro's encoding of a long: zigzag, then 7-bit little-endian groups."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def flip_bit(raw: bytes, bit: int) -> bytes:
    out = bytearray(raw)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@st.composite
def mutant(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    """One of: bit flips, insertion, deletion, truncation, a splice of two originals, random bytes
    behind a valid header, or a huge Avro length/count prefix written over the body."""
    raw = draw(st.sampled_from(originals))
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice", "random", "length"]))
    if kind == "flip":
        bits = draw(st.lists(st.integers(0, len(raw) * 8 - 1), min_size=1, max_size=8))
        for bit in bits:
            raw = flip_bit(raw, bit)
        return raw
    at = draw(st.integers(0, len(raw)))
    if kind == "insert":
        return raw[:at] + draw(st.binary(min_size=1, max_size=64)) + raw[at:]
    if kind == "delete":
        return raw[:at] + raw[at + draw(st.integers(1, 64)) :]
    if kind == "truncate":
        return raw[:at]
    if kind == "splice":
        other = draw(st.sampled_from(originals))
        return raw[:at] + other[draw(st.integers(0, len(other))) :]
    if kind == "random":
        return raw[:HEADER] + draw(st.binary(max_size=2048))
    at = max(at, HEADER)
    huge = draw(st.sampled_from([2**31, 2**32 + 1, 2**62, 2**63 - 1, -(2**63), -1, -(2**31)]))
    prefix = zigzag_long(huge)
    return raw[:at] + prefix + raw[at + draw(st.integers(0, len(prefix))) :]
