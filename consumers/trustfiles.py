"""The bus's trust store, loaded from a PKI folder and kept current as its CRL files change.

Anchors: ``ca/root.pem``. CRLs: every ``crl/*.pem`` / ``crl/*.crl`` file. ``refresh()`` re-reads
CRL files whose size or modification time changed; the store itself keeps only a newer CRL per
issuer, so a file rolled back to an older CRL cannot un-revoke anything.
"""

from __future__ import annotations

import logging
from pathlib import Path

from consumers.trust import TrustConfig, TrustError, TrustPolicy, TrustStore

__all__ = ["TrustFiles"]

logger = logging.getLogger(__name__)


class TrustFiles:
    """A :class:`TrustPolicy` over ``<pki>/ca/root.pem`` and the CRLs in ``<pki>/crl``."""

    def __init__(self, pki: Path, config: TrustConfig | None = None) -> None:
        self.pki = Path(pki)
        root = (self.pki / "ca" / "root.pem").read_bytes()
        self.store = TrustStore([root])
        self.policy = TrustPolicy(self.store, config)
        self._seen: dict[Path, tuple[int, int]] = {}
        self.refresh()

    def _crl_files(self) -> list[Path]:
        folder = self.pki / "crl"
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix in {".pem", ".crl", ".der"})

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
                logger.error("CRL %s refused: %s", path, exc)
            self._seen[path] = stamp
        if taken:
            logger.info("loaded %d new CRL(s) from %s", taken, self.pki / "crl")
        return taken
