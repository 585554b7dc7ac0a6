"""Run the real Apache Kafka broker on loopback: one combined node, or a 3-node KRaft cluster.

Each node is a JVM started from the Maven-resolved jars with its own properties file, data
directory, log file and pid file under ``<home>/<cluster>/node-<id>``. Storage is formatted on
first start only, so data survives restarts. ``start`` returns once the broker answers a
metadata request; ``stop`` signals the recorded pid and waits for a controlled shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infra import kafka_runtime
from infra.pki.tls import TlsFiles
from infra.settings import InfraConfig
from schemas.connection import KafkaConnection
from schemas.errors import OperationError
from schemas.reasons import Reason

__all__ = ["BrokerError", "Cluster", "Node", "cluster_for"]

log = logging.getLogger(__name__)


class BrokerError(OperationError, RuntimeError):
    """The broker could not be started, reached or stopped; the message says what to do."""

    REASON = Reason.BROKER_CONTROL


#: a secured broker checks every certificate of a TLS client's (and peer broker's) path against the
#: CRL its distribution point names (the PKI folder's crl/*.crl.pem, infra/pki/tls.py): a revoked
#: org's certificate cannot open a connection, and no CRL or a stale one refuses every handshake
#: (fail closed). The JVM keeps a CRL it read for 30 s (docs/SECURITY.md, "Revocation").
TLS_REVOCATION = ("-Dcom.sun.net.ssl.checkRevocation=true", "-Dcom.sun.security.enableCRLDP=true")


@dataclass(frozen=True)
class Node:
    node_id: int
    port: int
    controller_port: int
    dir: Path
    #: the inter-broker listener of a secured node (infra/security.py); None = unsecured
    internal_port: int | None = None

    @property
    def pid_file(self) -> Path:
        return self.dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "server.log"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def props_file(self) -> Path:
        return self.dir / "server.properties"

    def pid(self) -> int | None:
        """The pid of this node's JVM if it is alive and really ours, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        if b"kafka.Kafka" not in cmdline or str(self.props_file).encode() not in cmdline:
            return None  # stale pid file; the number now belongs to someone else
        return pid


@dataclass
class Cluster:
    """One or three KRaft nodes, each a combined broker + controller."""

    name: str
    nodes: list[Node]
    cfg: InfraConfig
    extra: Mapping[str, str] = field(default_factory=dict)
    #: the broker's own TLS identity: every listener is mTLS (infra/security.py); None = PLAINTEXT
    tls: TlsFiles | None = None

    @property
    def size(self) -> int:
        return len(self.nodes)

    @property
    def root(self) -> Path:
        return self.cfg.home / self.name

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def secured(self) -> bool:
        return self.tls is not None

    def connection(self, node: Node | None = None) -> KafkaConnection:
        """The cluster (or one node) as the broker's own identity reaches it (health checks)."""
        where = self.bootstrap if node is None else f"127.0.0.1:{node.port}"
        return KafkaConnection(bootstrap=where, tls=self.tls.paths if self.tls is not None else None)

    # ---- configuration -------------------------------------------------------------------
    def _cluster_id(self) -> str:
        f = self.root / "cluster.id"
        if f.exists():
            return f.read_text().strip()
        cid = "-"
        while cid.startswith("-"):  # like Kafka's own Uuid: never starts with '-', which CLIs read as a flag
            cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(cid + "\n")
        return cid

    def properties(self, node: Node) -> dict[str, str]:
        rf = str(min(3, self.size))
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(node.data_dir),
            "num.partitions": "1",
            "default.replication.factor": rf,
            "min.insync.replicas": "2" if self.size >= 3 else "1",
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": "2" if self.size >= 3 else "1",
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": "2" if self.size >= 3 else "1",
            "unclean.leader.election.enable": "false",
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "message.max.bytes": str(2 * 1024 * 1024),
            "replica.fetch.max.bytes": str(2 * 1024 * 1024),
            "log.flush.interval.messages": "9223372036854775807",
            # a killed or hung broker is fenced (loses its leaderships and leaves every ISR) 6 s after
            # its last heartbeat instead of Kafka's 9 s. When the hung node was also the active
            # controller the others elect one first (controller.quorum.fetch.timeout.ms, 2 s) and that
            # one waits a whole session before fencing: 2 + 9 = 11 s came after the clients' 10 s
            # request timeout, so their retry went to the hung node again and a pause stalled
            # delivery 20.5 s; 2 + 6 = 8 s comes before it (docs/OPERATIONS.md, broker outages)
            "broker.session.timeout.ms": "6000",
            "broker.heartbeat.interval.ms": "1000",
        }
        if self.tls is not None and node.internal_port is not None:
            # clients, brokers and controllers each on their own listener, all mTLS: no PLAINTEXT
            client, internal = f"CLIENT://127.0.0.1:{node.port}", f"INTERNAL://127.0.0.1:{node.internal_port}"
            props |= {
                "listeners": f"{client},{internal},CONTROLLER://127.0.0.1:{node.controller_port}",
                "advertised.listeners": f"{client},{internal}",
                "inter.broker.listener.name": "INTERNAL",
                "listener.security.protocol.map": "CLIENT:SSL,INTERNAL:SSL,CONTROLLER:SSL",
            }
        props.update(self.extra)
        return props

    def _write_config(self, node: Node) -> None:
        node.dir.mkdir(parents=True, exist_ok=True)
        lines = [f"{k}={v}" for k, v in sorted(self.properties(node).items())]
        node.props_file.write_text(
            "# written by docbus; edit infra/broker.py instead\n" + "\n".join(lines) + "\n"
        )

    def _format(self, node: Node) -> None:
        if (node.data_dir / "meta.properties").exists():
            return
        cmd = [
            kafka_runtime.java(), "-Xmx256m", "-cp", kafka_runtime.classpath(),
            f"-Dlog4j2.configurationFile={kafka_runtime.KAFKA_DIR / 'log4j2.properties'}",
            "kafka.tools.StorageTool", "format", "-t", self._cluster_id(), "-c", str(node.props_file),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BrokerError(f"formatting {node.data_dir} failed:\n{proc.stdout}{proc.stderr}")

    # ---- lifecycle -------------------------------------------------------------------------
    def running(self) -> list[Node]:
        return [n for n in self.nodes if n.pid() is not None]

    def start(self, only: list[int] | None = None) -> list[Node]:
        """Start the nodes that are not running; return the ones this call started."""
        targets = [n for n in self.nodes if only is None or n.node_id in only]
        if self.tls is not None and not self.tls.bundle.exists():
            raise BrokerError(
                f"{self.tls.bundle} is missing: issue the service certificates first "
                "(docbus pki issue-services), or start an unsecured broker with DOCBUS_INSECURE=1"
            )
        started: list[Node] = []
        for node in targets:
            if node.pid() is not None:
                continue
            for port in (node.port, node.controller_port, node.internal_port):
                if port is not None:
                    _require_free(port)
            self._write_config(node)
            self._format(node)
            started.append(self._spawn(node))
        if started:
            self.wait_ready(expect=len(self.running()), watch=started)
        return started

    def _spawn(self, node: Node) -> Node:
        cmd = [
            kafka_runtime.java(),
            f"-Xmx{self.cfg.broker_heap}", f"-Xms{min_heap(self.cfg.broker_heap)}",
            "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={kafka_runtime.KAFKA_DIR / 'log4j2.properties'}",
            *(TLS_REVOCATION if self.secured else ()),
            "-cp", kafka_runtime.classpath(), "kafka.Kafka", str(node.props_file),
        ]  # fmt: skip
        # Detached (reparented to init) so the broker outlives this command and is never our zombie.
        launched = subprocess.run(
            ["sh", "-c", 'nohup "$@" >>"$DOCBUS_BROKER_LOG" 2>&1 </dev/null & echo $!', "sh", *cmd],
            env={**os.environ, "DOCBUS_BROKER_LOG": str(node.log_file)},
            capture_output=True, text=True, check=True, start_new_session=True,
        )  # fmt: skip
        pid = int(launched.stdout.strip())
        node.pid_file.write_text(f"{pid}\n")
        log.info("started kafka node %s pid %s", node.node_id, pid)
        return node

    def wait_ready(
        self, *, expect: int, watch: list[Node] | None = None, timeout: float | None = None
    ) -> None:
        """Block until every running node answers a metadata request listing ``expect`` brokers.
        A node in ``watch`` whose process disappears fails the start with its log tail."""
        deadline = time.monotonic() + (timeout or self.cfg.start_timeout_s)
        last = ""
        while time.monotonic() < deadline:
            for n in watch or []:
                if not _alive(n.pid_file):
                    n.pid_file.unlink(missing_ok=True)
                    raise BrokerError(
                        f"kafka node {n.node_id} exited during start; see {n.log_file}:\n" + _tail(n.log_file)
                    )
            try:
                live = [n for n in self.nodes if n.pid() is not None]
                if not all(_listening(n.port) for n in live):
                    raise ConnectionRefusedError("not every node listens yet")
                # every running node must itself answer, and see the whole cluster
                seen = [asyncio.run(_count_brokers(self.connection(n))) for n in live]
                if seen and min(seen) >= expect:
                    return
                last = f"brokers seen per node: {seen}, want {expect}"
            except Exception as exc:
                last = repr(exc)
            time.sleep(0.3)
        raise BrokerError(f"broker did not answer a metadata request in time ({last})")

    def stop(self, only: list[int] | None = None, *, kill: bool = False) -> list[Node]:
        """Stop running nodes by their own pid: SIGTERM (controlled shutdown) or SIGKILL."""
        stopped: list[Node] = []
        targets = [n for n in self.nodes if only is None or n.node_id in only]
        for node in targets:
            pid = node.pid()
            if pid is None:
                node.pid_file.unlink(missing_ok=True)
                continue
            os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
            stopped.append(node)
        deadline = time.monotonic() + self.cfg.stop_timeout_s
        for node in stopped:
            while node.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            pid = node.pid()
            if pid is not None:
                log.warning("kafka node %s did not stop in time; killing it", node.node_id)
                os.kill(pid, signal.SIGKILL)
                while node.pid() is not None:
                    time.sleep(0.05)
            node.pid_file.unlink(missing_ok=True)
        return stopped


    def pause(self, only: list[int], *, resume: bool = False) -> list[Node]:
        """SIGSTOP (or, with ``resume``, SIGCONT) running nodes: a broker that hangs without closing
        its connections, the outage a client notices only by its own timeouts."""
        paused: list[Node] = []
        for node in self.nodes:
            pid = node.pid() if node.node_id in only else None
            if pid is not None:
                os.kill(pid, signal.SIGCONT if resume else signal.SIGSTOP)
                paused.append(node)
        return paused


def min_heap(heap: str) -> str:
    return "128m" if heap.lower().endswith(("m", "g")) else heap


def _require_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise BrokerError(
                f"port 127.0.0.1:{port} is already taken by another program; free it or set "
                f"DOCBUS_BROKER_PORT / DOCBUS_CLUSTER_PORT ({exc.strerror})"
            ) from None


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


async def _count_brokers(kafka: KafkaConnection) -> int:
    from aiokafka import AIOKafkaClient  # I/O edge only

    client = AIOKafkaClient(**kafka.client_kwargs(), request_timeout_ms=3000)
    try:
        await client.bootstrap()
        md = await client.fetch_all_metadata()
        return len(md.brokers())
    finally:
        await client.close()


def cluster_for(nodes: int, cfg: InfraConfig) -> Cluster:
    """The single-node broker (``nodes=1``) or the 3-node fault-test cluster (``nodes=3``)."""
    if nodes == 1:
        return Cluster(
            "broker", [Node(1, cfg.broker_port, cfg.broker_port + 1, cfg.home / "broker" / "node-1")], cfg
        )
    if nodes == 3:
        root = cfg.home / "cluster"
        return Cluster(
            "cluster",
            [
                Node(i, cfg.cluster_port + i, cfg.cluster_port + 100 + i, root / f"node-{i}")
                for i in (1, 2, 3)
            ],
            cfg,
        )
    raise BrokerError("docbus runs 1 node (demo, fast tests) or 3 nodes (fault tests)")
