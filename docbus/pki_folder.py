"""The bus's trust store, loaded from a PKI folder and kept current as its CRL files change.

Anchors: ``ca/root.pem`` (every role) and ``anchors/<role>/*.pem`` (one role each: organization,
official, audit). Intermediates for path building: every other certificate in ``ca/`` (not the
``*.key.pem`` files). CRLs: every ``crl/*.pem`` / ``crl/*.crl`` / ``crl/*.der`` file. ``refresh()``
re-reads CRL files whose size or modification time changed; the store keeps the newest CRLs per
scope, so a file rolled back to an older CRL cannot un-revoke anything. A file that cannot be read
as what its place says is skipped with a warning naming it: it never stops a process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from consumers.trust import Purpose, TrustConfig, TrustError, TrustPolicy, TrustStore
from schemas.directory import DirectoryEntry
from schemas.reasons import Reason

__all__ = ["TrustFiles", "trust_policy_from_pki", "with_encryption_certificates"]

logger = logging.getLogger(__name__)


class TrustFiles:
    """A :class:`TrustPolicy` over ``<pki>/ca/root.pem`` and the CRLs in ``<pki>/crl``."""

    def __init__(self, pki: Path, config: TrustConfig | None = None) -> None:
        self.pki = Path(pki)
        self.store = TrustStore()
        ca = self.pki / "ca"
        self._load(ca / "root.pem", self.store.add_anchor)
        for path in _files(ca, {".pem", ".crt", ".cer", ".der"}):
            if path.name != "root.pem" and not path.name.endswith(".key.pem"):
                self._load(path, self.store.add_intermediate)
        for purpose in Purpose:
            for path in _files(self.pki / "anchors" / purpose.value, {".pem", ".crt", ".cer", ".der"}):
                self._load(path, lambda data, p=purpose: self.store.add_anchor(data, {p}))  # type: ignore[misc]
        self.policy = TrustPolicy(self.store, config)
        self._seen: dict[Path, tuple[int, int]] = {}
        self.refresh()

    def _load(self, path: Path, add: Callable[[bytes], object]) -> None:
        try:
            add(path.read_bytes())
        except (OSError, TrustError) as exc:
            logger.warning("skipping %s: %s", path, exc)

    def _crl_files(self) -> list[Path]:
        return _files(self.pki / "crl", {".pem", ".crl", ".der"})

    def refresh(self) -> int:
        """Load changed CRL files; returns how many CRLs replaced a held one or were new."""
        taken = 0
        for path in self._crl_files():
            try:
                st = path.stat()
                stamp = (st.st_mtime_ns, st.st_size)
                if self._seen.get(path) == stamp:
                    continue
                data = path.read_bytes()
            except OSError as exc:  # a file being replaced: look again next time
                logger.warning("cannot read CRL %s: %s", path, exc)
                continue
            try:
                taken += bool(self.store.add_crl(data))
            except TrustError as exc:
                logger.warning("skipping CRL %s: %s", path, exc)
            self._seen[path] = stamp
        if taken:
            logger.info("loaded %d new CRL(s) from %s", taken, self.pki / "crl")
        return taken


def _files(folder: Path, suffixes: set[str]) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix in suffixes and p.is_file())
    except OSError:  # no such folder (yet)
        return []


def trust_policy_from_pki(pki_dir: Path, config: TrustConfig | None = None) -> TrustPolicy:
    """A verifier trusting the PKI folder's root, with the CRLs it holds (one-off tools and tests)."""
    try:
        return TrustFiles(pki_dir, config).policy
    except OSError as exc:
        raise TrustError(Reason.UNTRUSTED_CHAIN, f"cannot read the PKI folder: {exc}") from exc


def with_encryption_certificates(entries: Iterable[DirectoryEntry], pki_dir: Path) -> list[DirectoryEntry]:
    """``entries`` (unsealed) listing each org's encryption certificate, ``issued/<CODE>/encryption.pem``
    of the PKI folder, where it has one (docs/ENVELOPE.md §7.4): what the authority seals."""
    out = []
    for entry in entries:
        path = Path(pki_dir) / "issued" / entry.code / "encryption.pem"
        if path.is_file():
            der = x509.load_pem_x509_certificates(path.read_bytes())[0].public_bytes(Encoding.DER)
            entry = entry.model_copy(update={"encryption_certificate": der})
        out.append(entry)
    return out
