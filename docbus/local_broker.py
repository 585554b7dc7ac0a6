"""Which local broker a command means: the one of DOCBUS_HOME, or the one a demo state folder names.

The demo prints ``export DOCBUS_HOME=<state>``; its broker lives under the home it was started from.
The demo writes ``<state>/broker.json`` (home, port, whether it started the broker), so
`docbus broker status` and `docbus demo --stop` run with that environment find the right broker.
"""

from __future__ import annotations

import json
from pathlib import Path

from docbus.settings import Settings
from infra.broker import BrokerError, Cluster, cluster_for
from infra.pki.tls import RevocationGap, describe_gaps, revocation_gaps, stale_crls
from infra.security import secure_cluster

__all__ = [
    "MARKER",
    "CrlUnavailable",
    "TlsUpgradeRequired",
    "check_tls_material",
    "local_cluster",
    "record_broker",
]

MARKER = "broker.json"


def record_broker(state: Path, cluster: Cluster, cfg: Settings, *, owned: bool) -> None:
    marker = {"bootstrap": cluster.bootstrap, "home": str(cfg.home.resolve()), "port": cfg.broker_port,
              "owned": owned}  # fmt: skip
    (state / MARKER).write_text(json.dumps(marker))


def local_cluster(nodes: int = 1, cfg: Settings | None = None) -> Cluster:
    """The local broker of ``cfg`` (DOCBUS_*), or, when its home is a demo state folder, the demo's."""
    cfg = cfg or Settings()
    marker = cfg.home / MARKER
    if nodes == 1 and marker.is_file():
        data = json.loads(marker.read_text())
        cfg = cfg.model_copy(update={"home": Path(data["home"]), "broker_port": int(data["port"])})
    if cfg.insecure:
        return cluster_for(nodes, cfg)
    return secure_cluster(cfg.pki, nodes, cfg)


class TlsUpgradeRequired(BrokerError):
    """The PKI folder's TLS certificates cannot pass the broker's CRL check (a folder made before
    the broker checked CRLs, or moved): started, the JVM would refuse every handshake, its own
    controller's included, and fail with a TLS error. ``gaps`` names each certificate."""

    def __init__(self, pki: Path, gaps: list[RevocationGap]) -> None:
        self.pki, self.gaps = pki, gaps
        lines = "\n".join(f"  {line}" for line in describe_gaps(gaps, pki))
        super().__init__(
            f"not started: the TLS certificates of the PKI folder {pki} do not name its CRLs "
            "(crl/issuing.crl.pem, crl/root.crl.pem), and the secured broker checks every "
            "certificate of a handshake against the CRL it names: it would refuse them all, its own "
            f"included.\n{lines}\n"
            'Certify them again (same keys and validity; docs/OPERATIONS.md, "Upgrading a PKI folder"), '
            f"then start the broker again:\n  docbus pki reissue-tls --dir {pki}"
        )

    def __reduce__(self) -> tuple[type[TlsUpgradeRequired], tuple[object, ...]]:
        return (type(self), (self.pki, self.gaps))


class CrlUnavailable(BrokerError):
    """The PKI folder's CRLs are missing or past their nextUpdate: the secured broker would refuse
    every handshake (its CRL check fails closed), its own controller's included."""

    def __init__(self, pki: Path, problems: list[str]) -> None:
        self.pki, self.problems = pki, problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"not started: the CRLs of the PKI folder {pki} cannot be used, and the secured broker "
            f"checks every certificate of a handshake against them: it would refuse them all.\n{lines}\n"
            f"Publish fresh CRLs (docs/OPERATIONS.md §4; daily, from a cron job), then start the broker "
            f"again:\n  docbus pki crl --dir {pki}"
        )

    def __reduce__(self) -> tuple[type[CrlUnavailable], tuple[object, ...]]:
        return (type(self), (self.pki, self.problems))


def check_tls_material(cluster: Cluster) -> None:
    """Refuse to start ``cluster`` secured on TLS material its CRL check would refuse:
    certificates naming no CRL of the folder (TlsUpgradeRequired), CRLs missing or expired
    (CrlUnavailable)."""
    if cluster.tls is None or not cluster.tls.bundle.exists():
        return  # unsecured; or no broker login yet, which Cluster.start names itself
    pki = cluster.tls.folder
    gaps = revocation_gaps(pki)
    if gaps:
        raise TlsUpgradeRequired(pki, gaps)
    stale = stale_crls(pki)
    if stale:
        raise CrlUnavailable(pki, stale)
