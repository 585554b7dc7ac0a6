"""Every benchmark in one run: JSON on stdout (or a file) and a readable table on stderr.

    python -m benchmarks [--quick] [--bootstrap HOST:PORT | --no-broker] [--json out.json]

Without ``--bootstrap`` the broker parts reuse the test broker of tests/conftest.py
(127.0.0.1:29092, DOCBUS_HOME .docbus-test) if it is running, else start it and stop it after.
Default sizes take a few minutes; ``--quick`` takes seconds and only shows that every benchmark
still runs (its figures mean nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks import (
    bench_audit,
    bench_bus,
    bench_gateway,
    bench_large,
    bench_pipeline,
    bench_recovery,
    bench_verify,
)
from benchmarks._ceilings import cpu_ticks, machine, steal_share
from schemas.connection import KafkaConnection

__all__ = ["Sizes", "main", "render", "run_all"]


@dataclass(frozen=True)
class Sizes:
    verify_seconds: float = 0.2
    pipeline_envelopes: int = 1000
    pipeline_seconds: float = 0.5
    memory_envelopes: int = 150_000
    audit_records: int = 200_000
    drain: int = 2000
    rates: tuple[int, ...] = (100, 1000, 5000)
    rate_seconds: float = 2.0
    fanouts: int = 5
    gateway_submits: int = 300
    cli_runs: int = 3
    large_mb: int = 200  # one attachment end to end (benchmarks/bench_large.py); 0 skips it
    junk: int = 5000  # junk records from one sender during paced good traffic (bench_bus.junk_flood)
    recovery_cluster: bool = True  # bus.recovery's broker kill and pause on the 3-node test cluster
    inbox_answer: bool = True  # bus.inbox_answer: one inbox process answers the fan-out (bench_inboxes)


QUICK = Sizes(0.02, 8, 0.05, 200, 2000, 20, (100, 1000), 0.05, 1, 10, 1, 4, 50)
# the processor kill only, on the given broker; no one-process inbox answer (a minute of its own)
QUICK = replace(QUICK, recovery_cluster=False, inbox_answer=False)


@contextlib.contextmanager
def test_broker() -> Iterator[KafkaConnection]:
    """The test broker of tests/conftest.py: reused if it is running, else started here and stopped
    after the run (it held port 29092, and another checkout's test command could not start)."""
    from infra.security import secure_cluster
    from tests.conftest import ensure_test_pki, harness_connection, test_settings

    cluster = secure_cluster(ensure_test_pki(), 1, test_settings())
    started = cluster.start()
    try:
        yield harness_connection(cluster)
    finally:
        if started:
            cluster.stop(only=[n.node_id for n in started])


def broker_for(bootstrap: str | None) -> contextlib.AbstractContextManager[KafkaConnection]:
    """The broker at ``bootstrap`` if one is given, else the test broker (:func:`test_broker`)."""
    return contextlib.nullcontext(KafkaConnection(bootstrap=bootstrap)) if bootstrap else test_broker()


def run_all(sizes: Sizes, kafka: KafkaConnection | None) -> dict[str, Any]:
    """Every benchmark; the broker parts only with ``kafka``."""
    started, ticks = time.perf_counter(), cpu_ticks()
    out: dict[str, Any] = {"machine": machine(), "sizes": sizes.__dict__}
    out["verify"] = bench_verify.measure(sizes.verify_seconds)
    with tempfile.TemporaryDirectory() as tmp:
        out["pipeline"] = bench_pipeline.run(
            sizes.pipeline_envelopes, sizes.pipeline_seconds, sizes.memory_envelopes, Path(tmp)
        )
    out["audit"] = bench_audit.measure(sizes.audit_records, kafka)
    if kafka:
        bus_ticks = cpu_ticks()
        out["bus"] = bench_bus.run(
            kafka, sizes.drain, sizes.rates, sizes.rate_seconds, sizes.fanouts, sizes.junk, sizes.inbox_answer
        )
        out["bus"]["steal_share"] = steal_share(bus_ticks, cpu_ticks())  # the bus keys' minutes
        out["bus"]["recovery"] = recovery(kafka, sizes)
        out["gateway"] = bench_gateway.run(kafka, sizes.gateway_submits, sizes.cli_runs)
        if sizes.large_mb:
            out["large"] = bench_large.run(kafka, sizes.large_mb)
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["machine"]["steal_share"] = steal_share(ticks, cpu_ticks())
    return out


def recovery(kafka: KafkaConnection, sizes: Sizes) -> dict[str, Any]:
    """bus.recovery (benchmarks/bench_recovery.py): the processor kill on ``kafka``; the broker kill
    and pause on the 3-node test cluster, started for it and stopped after (it competes for the cores)."""
    if not sizes.recovery_cluster:
        return bench_recovery.run(kafka, None)
    cluster = bench_recovery.test_cluster()
    try:
        return bench_recovery.run(kafka, cluster)
    finally:
        cluster.stop()


def _met(flag: object) -> str:
    return "" if flag is None else ("met" if flag else "MISSED")


def render(result: dict[str, Any], console: Console) -> None:
    table = Table(title="docbus benchmarks (each figure beside its ceiling, same run)")
    for name in ("figure", "value", "ceiling", "ratio", "target", ""):
        table.add_column(name, justify="left" if name in ("figure", "target") else "right")
    for label, row in result["pipeline"]["validate_route"].items():
        table.add_row(
            f"validate+route {label} /s",
            str(row["validate_route_per_s"]),
            f"{row['full_check_ceiling_per_s']} full check",
            f"{row['ratio']:.2f}",
            ">= 0.60",
            _met(row["met"]),
        )
    audit = result["audit"]
    table.add_row(
        "audit verify, chain walk /s",
        str(audit["chain_walk_per_s"]),
        f"{audit['raw_sha256_chain_per_s']} raw SHA-256 chain",
        f"{audit['chain_walk_ratio']:.2f}",
        ">= 1M/s",
        _met(audit["chain_walk_per_s"] >= 1_000_000),
    )
    table.add_row(
        "audit verify, chain + Merkle root /s",
        str(audit["chain_and_merkle_root_per_s"]),
        "",
        f"{audit['chain_and_merkle_root_ratio']:.2f}",
        "",
        "",
    )
    table.add_row(
        "audit verify + Avro decode /s",
        str(audit["full_verify_with_avro_decode_per_s"]),
        "",
        f"{audit['full_verify_ratio']:.2f}",
        "",
        "",
    )
    table.add_row(
        "audit replay select /s",
        str(audit["replay_select_per_s"]),
        "",
        f"{audit['replay_select_ratio']:.3f}",
        "",
        "",
    )
    if "replay_read_and_select_per_s" in audit:
        table.add_row(
            "audit replay read+select from Kafka /s",
            str(audit["replay_read_and_select_per_s"]),
            "",
            "",
            "",
            "",
        )
    mem = result["pipeline"].get("memory")
    if mem:
        table.add_row(
            "decision loop RSS MB (min..max)",
            f"{mem['rss_mb_min']}..{mem['rss_mb_max']}",
            f"{mem['envelopes']} envelopes",
            f"{mem['rss_mb_slope_per_100k_second_half']}/100k",
            "flat, < 300",
            _met(mem["met"]),
        )
    large = result.get("large")
    if large:
        g = large["rss_growth_mb"]
        table.add_row(
            f"large attachment {large['size_mb']} MB end to end MB/s",
            str(large["mb_per_s"]),
            f"{large['raw_mb_per_s']} raw produce+consume",
            f"{large['ratio']:.2f}",
            ">= 0.50",
            _met(large["ratio"] >= 0.5),
        )
        table.add_row(
            "large attachment RSS growth MB (sender/processor/recipient)",
            f"{g['sender']}/{g['processor']}/{g['recipient']}",
            "",
            "",
            "< 64 each",
            _met(max(g.values()) < 64),
        )
    bus = result.get("bus")
    if bus:
        d = bus["drain"]
        table.add_row(
            "processor drain / pure decision (same envelopes)",
            f"{bus['drain_per_s']}/s",
            f"{bus['decision_per_s']}/s decided",
            f"{bus['drain_vs_decision']:.2f}",
            ">= 0.50",
            _met(bus["drain_vs_decision"] >= 0.5),
        )
        j = bus["junk_flood"]
        table.add_row(
            f"junk flood ({j['junk_records']} records, one sender): good p99 ms",
            str(j["good_p99_ms_during_flood"]),
            f"junk {j['junk_per_s']}/s, {j['good_arrived']}/{j['good_envelopes']} good in",
            "",
            "< 1000",
            _met(j["met"]),
        )
        r = bus["refusal"]
        table.add_row(
            "refused record vs accepted envelope: decide + outputs µs",
            f"{r['refused_us']} / {r['accepted_us']}",
            "in-process, same run",
            f"{r['ratio']:.1f}x",
            ">= 10x",
            _met(r["met"]),
        )
        w = bus["workers"]
        table.add_row(
            f"drain, 1 vs 2 `bus run` workers ({w['envelopes']} envelopes)",
            f"{w['two_per_s']}/s",
            f"{w['one_per_s']}/s one worker",
            f"{w['ratio']:.2f}",
            "",
            "",
        )
        table.add_row(
            "processor drain /s",
            str(d["processor_per_s"]),
            f"{d['raw_produce_plus_consume_per_s']} raw produce+consume",
            f"{d['ratio']:.3f}",
            "",
            "",
        )
        for row in bus["latency"]:
            table.add_row(
                f"latency @{row['offered_per_s']}/s p50/p95/p99 ms",
                f"{row['p50_ms']}/{row['p95_ms']}/{row['p99_ms']}",
                f"sent {row['achieved_send_per_s']}/s, {row['arrived']}/{row['envelopes']} in",
                "",
                "p99 < 50" if "met" in row else "",
                _met(row.get("met")),
            )
        f = bus["fan_out"]
        table.add_row(
            f"fan-out to {f['inboxes']} inboxes s (median)",
            str(f["median_s"]),
            "",
            "",
            "< 1 s",
            _met(f["met"]),
        )
        a = bus.get("inbox_answer")
        if a:
            table.add_row(
                f"one inbox process answers {a['inboxes']} inboxes s",
                str(a["one_process_s"]),
                f"raw read {a['raw_read_s']} s; per-code processes ~{a['one_process_per_code_estimate_s']} s",
                f"{a['vs_raw']:.2f}",
                f"< {a['target_s']:g} s",
                _met(a["met"]),
            )
        m = bus["processor_memory"]
        table.add_row(
            "processor RSS MB (min..max)",
            f"{m['rss_mb_min']}..{m['rss_mb_max']}",
            f"{m['envelopes_processed']} envelopes",
            "",
            "flat, < 300",
            _met(m["met"]),
        )
    rec = (bus or {}).get("recovery")
    if rec:
        for name in ("processor_kill", "broker_kill", "broker_pause"):
            if name in rec:
                row, broker = rec[name], name != "processor_kill"
                took = row["kill_to_first_delivery_s"]
                table.add_row(
                    f"recovery: {name.replace('_', ' ')} -> first delivery s (bus wrote it)",
                    f"{took} ({row.get('bus_wrote_s')})",
                    row["where"],
                    "",
                    "<= 15" if broker else "",
                    _met(took is not None and took <= 15 if broker else None),
                )
    gw = result.get("gateway")
    if gw:
        table.add_row(
            f"gateway submits /s ({gw['concurrency']} in flight)",
            str(gw["submit_per_s"]),
            f"{gw['sender_per_s']} Sender in process",
            f"{gw['ratio_to_sender']:.2f}",
            "",
            "",
        )
        table.add_row(
            "CLI path: send_document /s | docbus send /s",
            f"{gw['cli_send_document_per_s']} | {gw['cli_process_per_s']}",
            "a connection | a process per document",
            "",
            "",
            "",
        )
    console.print(table)
    mc = result["machine"]
    console.print(
        f"{mc['nproc']} cores {mc['cpu']}, Python {mc['python']}, {mc['openssl']}, "
        f"cryptography {mc['cryptography']}, load {mc['load_avg_1m']}, steal {mc.get('steal_share')}; "
        f"{result['seconds']} s"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: seconds, figures meaningless")
    parser.add_argument("--bootstrap", help="a broker for the broker parts (default: the test broker)")
    parser.add_argument("--no-broker", action="store_true", help="skip the broker parts")
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else Sizes()
    with contextlib.nullcontext(None) if args.no_broker else broker_for(args.bootstrap) as kafka:
        result = run_all(sizes, kafka)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    render(result, Console(stderr=True, width=None if sys.stderr.isatty() else 140))


if __name__ == "__main__":
    main(sys.argv[1:])
