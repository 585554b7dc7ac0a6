"""Which local broker a command means: the one of DOCBUS_HOME, or the one a demo state folder names.

The demo prints ``export DOCBUS_HOME=<state>``; its broker lives under the home it was started from.
The demo writes ``<state>/broker.json`` (home, port, whether it started the broker), so
`docbus broker status` and `docbus demo --stop` run with that environment find the right broker.
"""

from __future__ import annotations

import json
from pathlib import Path

from docbus.settings import Settings
from infra.broker import Cluster, cluster_for
from infra.security import secure_cluster

__all__ = ["MARKER", "local_cluster", "record_broker"]

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
