"""RFC 9162 (Certificate Transparency v2) Merkle tree: tree hash, inclusion and consistency proofs.

Leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)``, the empty tree
hashes to ``SHA-256("")``. A docbus leaf is a record's 32-byte chain hash (consumers.audit.core.chain).

The tree keeps every complete aligned subtree hash (level k holds the hashes of runs of 2**k
leaves), built as leaves arrive: appending is O(1) amortised, and the root at any size or any
proof is O(log n) lookups, because every subtree the RFC's recursion visits is aligned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "CompactTree",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
]

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return _sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaves (raw leaf data: here, record hashes); hashes them with the 0x00 prefix."""
        self.extend_hashed([_sha256(b"\x00" + leaf).digest() for leaf in leaves])

    def append(self, leaf: bytes) -> None:
        self.extend_hashed([leaf_hash(leaf)])

    def extend_hashed(self, hashes: Iterable[bytes]) -> None:
        """Append leaves whose leaf hashes are already computed."""
        self._levels[0].extend(hashes)
        level = 0
        while len(self._levels[level]) >= 2:
            below = self._levels[level]
            if level + 1 == len(self._levels):
                self._levels.append([])
            above = self._levels[level + 1]
            done, want = len(above), len(below) // 2
            if done == want:
                break  # no new pair here, so nothing changes above either
            above.extend(
                [_sha256(b"\x01" + below[2 * i] + below[2 * i + 1]).digest() for i in range(done, want)]
            )
            level += 1

    def leaf_hash_at(self, index: int) -> bytes:
        return self._levels[0][index]

    def root(self, size: int | None = None) -> bytes:
        """MTH over the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        self._check_size(size)
        return self._hash(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of size {size}")
        path: list[bytes] = []
        lo, hi, m = 0, size, index
        while hi - lo > 1:  # walk down, collecting siblings; the RFC lists them bottom-up
            k = _split(hi - lo)
            if m < k:
                path.append(self._hash(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._hash(lo, lo + k))
                lo, m = lo + k, m - k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1; empty when old_size is 0 or equal."""
        new_size = self.size if new_size is None else new_size
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"cannot prove size {old_size} against size {new_size}")
        if old_size in (0, new_size):
            return []
        proof: list[bytes] = []
        lo, hi, m, complete = 0, new_size, old_size, True
        while m != hi - lo:
            k = _split(hi - lo)
            if m <= k:
                proof.append(self._hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._hash(lo, lo + k))
                lo, m, complete = lo + k, m - k, False
        if not complete:
            proof.append(self._hash(lo, hi))
        proof.reverse()
        return proof

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is outside the tree (0..{self.size})")

    def _hash(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:  # a complete aligned subtree: stored
            level = n.bit_length() - 1
            return self._levels[level][lo >> level]
        k = _split(n)
        return node_hash(self._hash(lo, lo + k), self._hash(lo + k, hi))


class CompactTree:
    """Only the root hashes of the complete subtrees along the right edge (O(log n) memory):
    enough for the root at the current size, which is all a log verifier needs."""

    def __init__(self) -> None:
        self.size = 0
        self._heights: list[int] = []  # strictly decreasing
        self._hashes: list[bytes] = []

    def extend(self, leaves: Sequence[bytes]) -> None:
        self.extend_hashed([_sha256(b"\x00" + leaf).digest() for leaf in leaves])

    def extend_hashed(self, hashes: Sequence[bytes]) -> None:
        done, total = 0, len(hashes)
        while done < total:
            # the largest aligned complete subtree starting at the current size that fits
            room = total - done
            span = self.size & -self.size if self.size else 1 << (room.bit_length() - 1)
            while span > room:
                span >>= 1
            self._push(span.bit_length() - 1, _subtree(hashes[done : done + span]))
            done += span
            self.size += span

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r

    def _push(self, height: int, digest: bytes) -> None:
        heights, hashes = self._heights, self._hashes
        while heights and heights[-1] == height:
            heights.pop()
            digest = node_hash(hashes.pop(), digest)
            height += 1
        heights.append(height)
        hashes.append(digest)


def _subtree(hashes: Sequence[bytes]) -> bytes:
    """MTH of a power-of-two run of leaf hashes, a level at a time."""
    level = list(hashes)
    while len(level) > 1:
        pairs = iter(level)
        level = [_sha256(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs, strict=True)]
    return level[0]
