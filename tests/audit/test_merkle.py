"""RFC 9162 Merkle tree: published vectors, and the RFC's recursive definitions as the oracle."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.audit.core.errors import AuditError
from consumers.audit.core.merkle import (
    EMPTY_ROOT,
    CompactTree,
    MerkleTree,
    leaf_hash,
    node_hash,
)
from consumers.audit.core.proofs import verify_consistency, verify_inclusion

# Certificate Transparency's reference leaves and tree heads (certificate-transparency-go testdata)
LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (leaf index, tree size, path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


# --- the RFC 9162 §2.1 definitions, written recursively, as the oracle ---
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    return [*path(m, d[:k]), mth(d[k:])] if m < k else [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], complete: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if complete else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, d[:k], complete), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def tree_of(d: list[bytes]) -> MerkleTree:
    tree = MerkleTree()
    tree.extend(d)
    return tree


DATA64 = [i.to_bytes(2, "big") * (i % 5) for i in range(64)]
TREE64 = tree_of(DATA64)


def test_published_tree_heads_for_every_size() -> None:
    tree = MerkleTree()
    assert tree.root().hex() == ROOTS[0] == EMPTY_ROOT.hex()
    for n, leaf in enumerate(LEAVES, start=1):
        tree.append(leaf)
        assert tree.root().hex() == ROOTS[n]
    assert [tree.root(n).hex() for n in range(9)] == ROOTS


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_published_inclusion_proofs(index: int, size: int, expected: list[str]) -> None:
    tree = tree_of(LEAVES)
    proof = tree.inclusion_proof(index, size)
    assert [p.hex() for p in proof] == expected
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY)
def test_published_consistency_proofs(old: int, new: int, expected: list[str]) -> None:
    proof = tree_of(LEAVES).consistency_proof(old, new)
    assert [p.hex() for p in proof] == expected
    verify_consistency(old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), proof)


def test_every_inclusion_proof_up_to_64_matches_the_rfc_and_verifies() -> None:
    for n in range(1, 65):
        root = TREE64.root(n)
        assert root == mth(DATA64[:n])
        for m in range(n):
            proof = TREE64.inclusion_proof(m, n)
            assert proof == path(m, DATA64[:n])
            verify_inclusion(leaf_hash(DATA64[m]), m, n, proof, root)


def test_every_consistency_proof_up_to_64_matches_the_rfc_and_verifies() -> None:
    for n in range(1, 65):
        for m in range(1, n + 1):
            proof = TREE64.consistency_proof(m, n)
            assert proof == subproof(m, DATA64[:n], True)
            verify_consistency(m, n, TREE64.root(m), TREE64.root(n), proof)


def _flip(b: bytes, at: int = 0) -> bytes:
    return b[:at] + bytes([b[at] ^ 1]) + b[at + 1 :]


@given(st.integers(1, 64).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))), st.data())
def test_a_changed_inclusion_input_is_refused(nm: tuple[int, int], data: st.DataObject) -> None:
    n, m = nm
    proof, root, leaf = TREE64.inclusion_proof(m, n), TREE64.root(n), leaf_hash(DATA64[m])
    # (the size alone is not bound by a proof: a signed checkpoint binds it to the root)
    tamper = data.draw(st.sampled_from(["leaf", "root", "index", "path", "drop", "extra"]))
    args: list[object] = [leaf, m, n, proof, root]
    if tamper == "leaf":
        args[0] = _flip(leaf)
    elif tamper == "root":
        args[4] = _flip(root)
    elif tamper == "index":
        other = data.draw(st.integers(0, n - 1).filter(lambda i: i != m)) if n > 1 else n
        args[1] = other
    elif tamper == "path" and proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        args[3] = [*proof[:i], _flip(proof[i]), *proof[i + 1 :]]
    elif tamper == "drop" and proof:
        args[3] = proof[:-1]
    else:
        args[3] = [*proof, b"\x00" * 32]
    with pytest.raises(AuditError):
        verify_inclusion(*args)  # type: ignore[arg-type]


@given(st.integers(1, 64).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))), st.data())
def test_a_changed_consistency_input_is_refused(mn: tuple[int, int], data: st.DataObject) -> None:
    m, n = mn
    proof, old, new = TREE64.consistency_proof(m, n), TREE64.root(m), TREE64.root(n)
    tamper = data.draw(st.sampled_from(["old", "new", "path", "extra", "drop"]))
    if tamper == "old":
        old = _flip(old)
    elif tamper == "new":
        new = _flip(new)
    elif tamper == "path" and proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        proof = [*proof[:i], _flip(proof[i], 31), *proof[i + 1 :]]
    elif tamper == "drop" and proof:
        proof = proof[:-1]
    else:
        proof = [*proof, b"\x11" * 32]
    with pytest.raises(AuditError):
        verify_consistency(m, n, old, new, proof)


def test_a_forked_history_is_not_consistent() -> None:
    forked = tree_of([*DATA64[:9], b"rewritten", *DATA64[10:40]])
    proof = forked.consistency_proof(20, 40)
    verify_consistency(20, 40, forked.root(20), forked.root(40), proof)  # consistent with itself
    with pytest.raises(AuditError):
        verify_consistency(20, 40, TREE64.root(20), forked.root(40), proof)


def test_edge_sizes() -> None:
    verify_consistency(0, 5, EMPTY_ROOT, TREE64.root(5), [])
    with pytest.raises(AuditError):
        verify_consistency(3, 2, TREE64.root(3), TREE64.root(2), [])
    with pytest.raises(AuditError):
        verify_consistency(4, 4, TREE64.root(4), TREE64.root(5), [])
    with pytest.raises(AuditError):
        verify_inclusion(leaf_hash(DATA64[0]), 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ValueError):
        TREE64.inclusion_proof(64, 64)
    with pytest.raises(ValueError):
        TREE64.root(65)
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


@given(st.lists(st.integers(1, 70), min_size=1, max_size=12))
def test_compact_tree_root_equals_the_full_tree_at_every_batch(batches: list[int]) -> None:
    compact, full, i = CompactTree(), MerkleTree(), 0
    for size in batches:
        chunk = [j.to_bytes(4, "big") for j in range(i, i + size)]
        compact.extend(chunk)
        full.extend(chunk)
        i += size
        assert compact.size == full.size == i
        assert compact.root() == full.root() == mth([j.to_bytes(4, "big") for j in range(i)])
