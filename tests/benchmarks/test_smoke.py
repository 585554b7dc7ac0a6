"""Every benchmark runs at a tiny size and reports each figure beside its ceiling, so none can rot.
No timing assertions: the figures of a quick run mean nothing."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from benchmarks import suite
from schemas.connection import KafkaConnection

pytestmark = pytest.mark.broker


@pytest.mark.timeout(900)  # every benchmark once, a processor kill and restart included: 3.5 min at load 9
def test_every_benchmark_runs_and_reports_its_ceiling(kafka_conn: KafkaConnection) -> None:
    result = suite.run_all(suite.QUICK, kafka_conn)
    json.dumps(result)  # the JSON output is plain data

    assert result["machine"]["nproc"] >= 1 and result["machine"]["cryptography"]
    assert set(result["verify"]["algorithms"]) >= {
        "Ed25519",
        "ECDSA-P256",
        "RSA-2048-PKCS1v15",
        "RSA-2048-PSS",
    }
    rows = result["pipeline"]["validate_route"]
    assert set(rows) == {"RSA-2048-PKCS1v15", "RSA-2048-PSS", "ECDSA-P256", "Ed25519"}
    for row in rows.values():
        assert row["validate_route_per_s"] > 0 and row["full_check_ceiling_per_s"] > 0 and row["ratio"] > 0
    assert result["pipeline"]["memory"]["envelopes"] == suite.QUICK.memory_envelopes
    assert (
        result["audit"]["raw_sha256_chain_per_s"] > 0 and result["audit"]["replay_read_and_select_per_s"] > 0
    )

    bus = result["bus"]
    assert (
        bus["drain"]["envelopes"] == suite.QUICK.drain and bus["drain"]["raw_produce_plus_consume_per_s"] > 0
    )
    # every paced envelope was routed to its inbox: the processor accepted the benchmark's chains
    assert [(r["offered_per_s"], r["arrived"] == r["envelopes"]) for r in bus["latency"]] == [
        (rate, True) for rate in suite.QUICK.rates
    ]
    assert bus["fan_out"]["inboxes"] == 63
    assert "inbox_answer" not in bus  # a minute of its own: the default sizes run it (bench_inboxes)
    assert bus["decision_per_s"] > 0 and bus["drain_vs_decision"] > 0
    assert bus["junk_flood"]["junk_records"] == suite.QUICK.junk and bus["junk_flood"]["junk_per_s"] > 0
    assert bus["processor_memory"]["rss_mb_max"] > 0
    assert bus["refusal"]["accepted_us"] > 0 and bus["refusal"]["refused_us"] > 0
    assert bus["workers"]["envelopes"] == suite.QUICK.drain and bus["workers"]["two_per_s"] > 0
    # bus.recovery: a quick run kills the processor only (the broker faults need the 3-node cluster)
    recovery = bus["recovery"]
    assert recovery["processor_kill"]["kill_to_first_delivery_s"] > 0 and "broker_kill" not in recovery
    gateway = result["gateway"]
    assert gateway["submit_per_s"] > 0 and gateway["sender_per_s"] > 0 and gateway["cli_process_per_s"] > 0
    large = result["large"]
    assert large["size_mb"] == suite.QUICK.large_mb and large["mb_per_s"] > 0 and large["raw_mb_per_s"] > 0
    assert set(large["rss_growth_mb"]) == {"sender", "processor", "recipient"}

    out = io.StringIO()
    suite.render(result, Console(file=out, width=200))
    table = out.getvalue()
    assert "validate+route Ed25519" in table and "fan-out to 63 inboxes" in table
    assert "gateway submits /s" in table and "recovery: processor kill" in table


def test_without_a_broker_the_pure_parts_still_run() -> None:
    sizes = suite.Sizes(0.01, 4, 0.02, 0, 500, 0, (), 0.0, 0)
    result = suite.run_all(sizes, None)
    assert "bus" not in result and "memory" not in result["pipeline"]
    assert len(result["pipeline"]["validate_route"]) == 4
