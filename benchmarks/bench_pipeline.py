"""The pure decision path (consumers/bus/decide/validator.py: decode + contract + directory + routing + trust
with cached chains + policy) per algorithm, beside the full-check ceiling measured in the same run
(Avro decode + model validation + payload SHA-256 + canonical bytes + 2 bare verifies), single core;
and the decision loop's resident memory over many envelopes.

    python -m benchmarks.bench_pipeline [--envelopes 2000] [--seconds 1.0] [--memory 300000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks._ceilings import full_check, paired_rates, ratio, rss_mb
from benchmarks._world import ALGORITHMS, BenchWorld, build_world
from consumers.bus.decide.policy import SenderState
from consumers.bus.decide.routed import RoutedRecord
from consumers.bus.decide.validator import Accepted, Validator
from docbus.pki_folder import TrustFiles
from schemas.directory_store import DirectoryStore

__all__ = ["decision_loop", "memory", "throughput"]

TARGET_RATIO = 0.60  # validate+route >= 60% of the full-check ceiling


def decision_loop(world: BenchWorld, pool: Sequence[bytes]) -> Callable[[], None]:
    """One validator decision per call, as the agent makes it, cycling through ``pool`` (one
    sender's chain); the tables start empty at each pass, so every decision is an acceptance."""
    store = DirectoryStore()
    store.apply(world.entries)
    validator = Validator(TrustFiles(world.pki).policy, store)
    states: dict[str, SenderState] = {}
    routed: dict[str, RoutedRecord] = {}
    index = [0]

    def run() -> None:
        i = index[0] % len(pool)
        if i == 0:
            states.clear()
            routed.clear()
        index[0] += 1
        d = validator.check(
            pool[i],
            now=datetime.now(UTC),
            position=(0, index[0]),
            state_of=lambda s: states.get(s) or SenderState(),
            routed_of=routed.get,
        )
        if not isinstance(d, Accepted):
            raise AssertionError(f"benchmark envelope refused: {d.reason} {d.detail}")
        routed[d.envelope.message_id] = RoutedRecord(d.sender, d.plan.recipients, d.signing_hash, "", (0, i))
        states[d.sender] = d.state

    return run


def throughput(world: BenchWorld, n: int, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label in ALGORITHMS:
        pool = [raw for _, raw in world.chain(world.sender_of(label)).envelopes(n, recipients=("H05",))]
        decide = decision_loop(world, pool)
        for _ in range(len(pool)):  # one pass: chains cached, caches warm
            decide()
        decided, ceiling = paired_rates(decide, full_check(pool), 3 * seconds)
        out[label] = {
            "validate_route_per_s": round(decided),
            "full_check_ceiling_per_s": round(ceiling),
            "ratio": ratio(decided, ceiling),
            "target": TARGET_RATIO,
            "met": decided / ceiling >= TARGET_RATIO,
            "envelope_bytes": len(pool[0]),
        }
    return out


def memory(world: BenchWorld, total: int, pool_size: int, label: str = "RSA-2048-PKCS1v15") -> dict[str, Any]:
    """``total`` decisions over a pool of ``pool_size`` pre-signed envelopes (replayed through fresh
    tables each pass: the signatures cover the ids); VmRSS sampled every ``pool_size // 4``."""
    pool = [raw for _, raw in world.chain(world.sender_of(label)).envelopes(pool_size, recipients=("H05",))]
    decide = decision_loop(world, pool)
    every = max(1, pool_size // 4)
    samples: list[tuple[int, float]] = [(0, rss_mb())]
    start = time.perf_counter()
    for i in range(1, total + 1):
        decide()
        if i % every == 0:
            samples.append((i, rss_mb()))
    elapsed = time.perf_counter() - start
    rss = [mb for _, mb in samples]
    half = samples[len(samples) // 2 :]  # the slope after warm-up: growth per 100k envelopes
    slope = (half[-1][1] - half[0][1]) / max(1, half[-1][0] - half[0][0]) * 100_000
    return {
        "what": f"validator+router loop, {label}, {total} decisions over a pool of {pool_size}",
        "envelopes": total,
        "rate_per_s": round(total / elapsed),
        "rss_mb_min": round(min(rss), 1),
        "rss_mb_max": round(max(rss), 1),
        "rss_mb_slope_per_100k_second_half": round(slope, 2),
        "target": "flat and < 300 MB",
        "met": max(rss) < 300 and abs(slope) < 1.0,
    }


def run(envelopes: int, seconds: float, memory_total: int, folder: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world((folder or Path(tmp)) / "pki")
        result = {"validate_route": throughput(world, envelopes, seconds)}
        if memory_total:
            result["memory"] = memory(world, memory_total, min(memory_total, 20_000))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelopes", type=int, default=2000, help="pre-signed envelopes per algorithm")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--memory", type=int, default=300_000, help="decisions of the memory run (0: none)")
    args = parser.parse_args()
    print(json.dumps(run(args.envelopes, args.seconds, args.memory), indent=2))


if __name__ == "__main__":
    main()
