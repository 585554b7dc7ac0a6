"""Verifying RFC 9162 proofs: inclusion (§2.1.3.2) and consistency (§2.1.4.2), as the RFC writes them.

Proofs are produced by consumers.audit.core.merkle.MerkleTree; these functions need only hashes.
"""

from __future__ import annotations

from collections.abc import Sequence

from consumers.audit.core.errors import AuditError
from consumers.audit.core.merkle import EMPTY_ROOT, node_hash
from schemas.reasons import Reason

__all__ = ["verify_consistency", "verify_inclusion"]


def _fail(detail: str) -> AuditError:
    return AuditError(Reason.DIGEST_MISMATCH, detail)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2. ``leaf`` is the leaf hash. Returns nothing or raises AuditError."""
    if not 0 <= index < size:
        raise _fail(f"leaf {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise _fail("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise _fail("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise _fail(f"leaf {index} does not lead to the root of the tree of size {size}")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2, plus the trivial cases (sizes equal, or the old tree empty)."""
    if not 0 <= old_size <= new_size:
        raise _fail(f"a tree cannot shrink from size {old_size} to {new_size}")
    if old_size == new_size or old_size == 0:
        if proof:
            raise _fail("a consistency proof for these sizes must be empty")
        if old_size == new_size and old_root != new_root:
            raise _fail(f"two different roots for the same size {old_size}")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise _fail("the empty tree has another root")
        return
    if not proof:
        raise _fail("empty consistency proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise _fail("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise _fail(f"size {old_size} and size {new_size} are not consistent")
