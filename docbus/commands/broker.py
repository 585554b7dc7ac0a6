"""`docbus broker ...` and `docbus topics ...`: run the local Kafka and shape its topics."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from docbus.errors import ExitCode
from docbus.local_broker import CrlUnavailable, TlsUpgradeRequired, check_tls_material, local_cluster
from docbus.output import JSON, emit
from docbus.pki_folder import TrustFiles
from docbus.settings import ADMIN, Settings
from infra import acls, kafka_runtime, quotas, topics
from infra import security as security_mod
from infra.broker import BrokerError
from infra.security import QUOTA_SERVICES
from producers.directory_view import DirectoryView
from producers.reader import ReadError
from schemas.connection import KafkaConnection, tls_paths

__all__ = ["broker_app", "topics_app"]

broker_app = typer.Typer(no_args_is_help=True, help="Run the real Apache Kafka broker (KRaft) on loopback.")
topics_app = typer.Typer(no_args_is_help=True, help="Declarative topics (infra/topics.toml).")
out = Console()
err = Console(stderr=True)

NODES = typer.Option(1, "--nodes", "-n", help="1 = single broker; 3 = local fault-test cluster")


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/] {exc}")
    return typer.Exit(1)


@broker_app.command()
def fetch() -> None:
    """Resolve the Kafka jars from Maven Central (a second run resolves nothing new)."""
    try:
        path = kafka_runtime.fetch()
    except kafka_runtime.RuntimeMissing as exc:
        raise _fail(exc) from None
    out.print(f"kafka runtime: {path} ({len(list(path.glob('*.jar')))} jars)")


@broker_app.command()
def start(
    nodes: int = NODES,
    tls_dir: Path = typer.Option(  # noqa: B008
        None, "--tls-dir", help="PKI folder with tls/docbus-broker (default: DOCBUS_PKI_DIR or <home>/pki)"
    ),
) -> None:
    """Start the broker (formats storage on first start); returns once it answers metadata requests.
    Secured (mTLS on every listener, ACLs enforced) unless DOCBUS_INSECURE=1; a PKI folder whose
    TLS certificates name no CRL of it (made before the broker checked CRLs) is refused first
    (exit 4), naming them and `docbus pki reissue-tls`, and so are CRLs missing or expired
    (`docbus pki crl`)."""
    settings = Settings()
    settings.warn_if_insecure()
    try:
        cluster = security_mod.secure_cluster(tls_dir, nodes, settings) if tls_dir else local_cluster(nodes)
        if len(cluster.running()) == cluster.size:
            out.print(f"already running: {cluster.bootstrap} (nothing to do)")
            return
        check_tls_material(cluster)
        t0 = time.monotonic()
        started = cluster.start()
    except (TlsUpgradeRequired, CrlUnavailable) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)  # paths unbroken
        raise typer.Exit(ExitCode.LOCAL) from None
    except (BrokerError, kafka_runtime.RuntimeMissing, FileNotFoundError) as exc:
        raise _fail(exc) from None
    ids = ", ".join(str(n.node_id) for n in started)
    out.print(f"kafka up on {cluster.bootstrap} (started node {ids} in {time.monotonic() - t0:.1f}s)")
    if cluster.secured:
        out.print("mTLS on every listener (client, inter-broker, controller); ACLs enforced")
    out.print(f"data: {cluster.root}   stop with: docbus broker stop{' --nodes 3' if nodes == 3 else ''}")


@broker_app.command()
def stop(
    nodes: int = NODES,
    node: list[int] = typer.Option(None, "--node", help="stop only this node id (fault tests)"),  # noqa: B008
    kill: bool = typer.Option(False, "--kill", help="SIGKILL instead of a controlled shutdown"),
) -> None:
    """Stop the broker cleanly by its own pid."""
    cluster = local_cluster(nodes)
    stopped = cluster.stop(only=node or None, kill=kill)
    out.print(f"stopped {len(stopped)} node(s)" if stopped else "not running")


@broker_app.command()
def status(nodes: int = NODES, as_json: bool = JSON) -> None:
    """Show each node: pid, port, data folder (exit 3 when none runs)."""
    cluster = local_cluster(nodes)
    if as_json:
        emit({"bootstrap": cluster.bootstrap, "running": bool(cluster.running()), "nodes": [
            {"node": n.node_id, "pid": n.pid(), "port": n.port, "controller_port": n.controller_port,
             "data": str(n.dir)} for n in cluster.nodes]})  # fmt: skip
        if not cluster.running():
            raise typer.Exit(3)
        return
    table = Table("node", "pid", "client port", "controller port", "data")
    for n in cluster.nodes:
        pid = n.pid()
        table.add_row(
            str(n.node_id),
            str(pid) if pid else "[red]down[/]",
            str(n.port),
            str(n.controller_port),
            str(n.dir),
        )
    out.print(table)
    if not cluster.running():
        raise typer.Exit(3)


@broker_app.command()
def logs(
    nodes: int = NODES,
    node: int = typer.Option(1, "--node"),
    lines: int = typer.Option(50, "--lines"),
    follow: bool = typer.Option(False, "--follow", "-f"),
) -> None:
    """Print the tail of a node's server.log."""
    cluster = local_cluster(nodes)
    target = next((n for n in cluster.nodes if n.node_id == node), None)
    if target is None or not target.log_file.exists():
        raise _fail(BrokerError(f"no log for node {node} yet"))
    subprocess.run(["tail", f"-n{lines}", *(["-F"] if follow else []), str(target.log_file)], check=False)


def _admin(nodes: int, bootstrap: str | None, tls_dir: Path | None, tls_name: str) -> KafkaConnection:
    """The operator's connection: ``--bootstrap``/``--tls-dir`` if given, else the settings'."""
    settings = Settings()
    target = bootstrap or local_cluster(nodes).bootstrap
    if tls_dir is not None:
        return KafkaConnection(bootstrap=target, tls=tls_paths(tls_dir, tls_name))
    settings.warn_if_insecure()
    return KafkaConnection(bootstrap=target, tls=settings.tls(tls_name))


@topics_app.command("apply")
def apply_topics(
    nodes: int = NODES,
    bootstrap: str = typer.Option(None, envvar="DOCBUS_BOOTSTRAP", help="default: the local broker"),
    with_acls: bool = typer.Option(False, "--acls", help="also apply the ACLs of topics.toml's [acls]"),
    org: list[str] = typer.Option(None, "--org", help="grant this org (default: every org with an inbox)"),  # noqa: B008
    tls_dir: Path = typer.Option(None, "--tls-dir", help="PKI folder: connect over mTLS (SSL listener)"),  # noqa: B008
    tls_name: str = typer.Option(ADMIN, "--tls-name", help="TLS identity under <tls-dir>/tls/"),
    inboxes: bool = typer.Option(
        True, "--inboxes/--no-inboxes", help="also every active org's inbox, from the signed directory"
    ),
    as_json: bool = JSON,
) -> None:
    """Create missing topics and report drift from infra/topics.toml (and its ACLs), and the inbox
    of every active org of the directory. Idempotent."""
    target = _admin(nodes, bootstrap, tls_dir, tls_name)
    specs = topics.load_specs()
    if inboxes:
        specs += asyncio.run(_inbox_specs(target))
    plan = asyncio.run(topics.apply(target, specs))
    access = _apply_acls(target, org) if with_acls else None
    if as_json:
        emit(_plan_json(plan) | ({} if access is None else access))
        return
    for w in plan.warnings:
        err.print(f"[yellow]warning:[/] {w}")
    for s in plan.create:
        out.print(f"created {s.name} (partitions {s.partitions}, replication {s.replication}, {s.cleanup})")
    for d in plan.drift:
        out.print(f"[yellow]drift:[/] {d}")
    out.print(f"{len(plan.create)} created, {len(plan.ok)} unchanged, {len(plan.drift)} drifted")
    if access is not None:
        for a in access["acls"]["created"]:
            out.print(f"granted {a}")
        granted = access["acls"]
        out.print(f"ACLs: {len(granted['created'])} created, {granted['unchanged']} unchanged "
                  f"({len(granted['orgs'])} orgs)")  # fmt: skip
        for q in access["quotas"]:
            out.print(f"quota {q}")
        out.print(f"quotas: {len(access['quotas'])} set")


def _apply_acls(target: KafkaConnection, org: list[str] | None) -> dict[str, Any]:
    """The ACLs of topics.toml's [acls] for ``org`` (default: every org with an inbox), then the
    per-principal quotas; what was created or set (the ``acls`` and ``quotas`` of the JSON shape)."""
    policy = acls.load_policy()
    orgs = org or asyncio.run(acls.inbox_orgs(target, policy))
    try:
        granted = asyncio.run(acls.apply_acls(target, acls.desired_acls(orgs, policy)))
        changed = asyncio.run(quotas.apply_quotas(target, quotas.desired_quotas(QUOTA_SERVICES)))
    except (acls.AclError, quotas.QuotaError) as exc:
        raise _fail(exc) from None
    return {"acls": {"orgs": sorted(orgs), "created": [str(a) for a in granted.create],
                     "unchanged": len(granted.ok)},
            "quotas": [str(q) for q in changed]}  # fmt: skip


def _plan_json(plan: topics.Plan) -> dict[str, object]:
    return {
        "created": [{"name": s.name, "partitions": s.partitions, "replication": s.replication,
                     "cleanup": s.cleanup} for s in plan.create],
        "unchanged": list(plan.ok), "drift": [str(d) for d in plan.drift], "warnings": list(plan.warnings),
    }  # fmt: skip


async def _inbox_specs(kafka: KafkaConnection) -> list[topics.TopicSpec]:
    """The inbox and status topic specs of every active org of the directory (entries checked
    against the PKI folder; without a PKI folder, none: an unchecked directory never creates topics)."""
    settings = Settings()
    if not (settings.pki / "issued").is_dir():
        return []
    view = DirectoryView(kafka, policy=TrustFiles(settings.pki).policy, authority=settings.directory_org)
    try:
        snapshot = await view.refresh(timeout=settings.directory_timeout)
    except ReadError:
        return []  # no directory topic yet: the fixed topics come first
    active = [] if snapshot is None else [e.code for e in snapshot.entries() if e.active]
    return [spec for code in active for spec in topics.org_specs(code)]


@topics_app.command("revoke")
def revoke_acls(
    org: str = typer.Argument(..., help="org code (or docbus-processor): every ACL of User:<it> goes"),
    nodes: int = NODES,
    bootstrap: str = typer.Option(None, help="default: the local broker"),
    tls_dir: Path = typer.Option(None, "--tls-dir", help="PKI folder: connect over mTLS (SSL listener)"),  # noqa: B008
    tls_name: str = typer.Option(ADMIN, "--tls-name", help="TLS identity under <tls-dir>/tls/"),
) -> None:
    """Shut an org out of the secured broker at once: delete every ACL of its principal."""
    target = _admin(nodes, bootstrap, tls_dir, tls_name)
    try:
        deleted = asyncio.run(acls.revoke_principal(target, f"User:{org}"))
    except acls.AclError as exc:
        raise _fail(exc) from None
    out.print(f"User:{org}: {deleted} ACL(s) deleted" if deleted else f"User:{org} had no ACLs")
