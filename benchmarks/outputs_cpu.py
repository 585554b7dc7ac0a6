"""The outputs of one accepted envelope (consumers/bus/outputs.py ``envelope_outputs``: inbox copy
with its routing proof, the sealed 01 notice, routing facts, audit drafts, table writes) timed in
CPU time of this thread (``time.thread_time``), beside the decision that precedes it, in
alternating batches: on a shared machine CPU time moves far less than wall-clock rates. Prints per
algorithm the median µs of the outputs, of the decision, and their ratio, as JSON.

    python -m benchmarks.outputs_cpu [--rounds 15] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks._world import ALGORITHMS, build_world
from benchmarks.bench_pipeline import decision_loop
from consumers.bus.decide.policy import SenderState
from consumers.bus.decide.validator import Accepted, Validator
from consumers.bus.notices import BusNotices
from consumers.bus.outputs import Source, envelope_outputs
from docbus.pki_folder import TrustFiles
from schemas.directory_store import DirectoryStore
from schemas.topics import INGRESS_TOPIC


def _batch(fn: Callable[[], None], n: int) -> float:
    start = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - start) / n


def decided_pool(validator: Validator, pool: list[bytes]) -> list[tuple[Accepted, bytes]]:
    """Each envelope of ``pool`` (one sender's chain) decided once, in order: the decisions whose
    outputs are timed."""
    states: dict[str, SenderState] = {}
    out: list[tuple[Accepted, bytes]] = []
    for i, raw in enumerate(pool):
        d = validator.check(
            raw, now=datetime.now(UTC), position=(0, i), state_of=lambda c: states.get(c) or SenderState(),
            routed_of=lambda _: None,
        )  # fmt: skip
        if not isinstance(d, Accepted):
            raise AssertionError(f"benchmark envelope refused: {d.reason} {d.detail}")
        states[d.sender] = d.state
        out.append((d, raw))
    return out


def outputs_loop(decided: list[tuple[Accepted, bytes]], sealer: BusNotices) -> Callable[[], None]:
    """One ``envelope_outputs`` per call, cycling through ``decided``."""
    index = [0]

    def run() -> None:
        i = index[0] % len(decided)
        index[0] += 1
        d, raw = decided[i]
        envelope_outputs(d, raw, Source(INGRESS_TOPIC, 0, i, b"H01", datetime.now(UTC)), sealer)

    return run


def measure(
    envelopes: int, batch: int, rounds: int, profile: str | None = None
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    profiler = cProfile.Profile() if profile else None
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp) / "pki")
        store = DirectoryStore()
        store.apply(world.entries)
        validator = Validator(TrustFiles(world.pki).policy, store)
        sealer = BusNotices(world.identities["G03.BUS"])
        for label in ALGORITHMS:
            sender = world.chain(world.sender_of(label))
            pool = [raw for _, raw in sender.envelopes(envelopes, recipients=("H05",))]
            outputs, decide = outputs_loop(decided_pool(validator, pool), sealer), decision_loop(world, pool)
            _batch(decide, envelopes)  # one pass: chains cached, caches warm
            _batch(outputs, batch)
            pairs = []
            for _ in range(rounds):
                if profiler is not None:
                    profiler.enable()
                timed = _batch(outputs, batch)
                if profiler is not None:
                    profiler.disable()
                pairs.append((timed, _batch(decide, batch)))
            o = statistics.median(p[0] for p in pairs)
            d = statistics.median(p[1] for p in pairs)
            out[label] = {
                "outputs_us": round(o * 1e6, 1),
                "decision_us": round(d * 1e6, 1),
                "ratio": round(o / d, 3),
            }
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelopes", type=int, default=500, help="pre-signed envelopes per algorithm")
    parser.add_argument("--batch", type=int, default=100, help="calls per timed batch")
    parser.add_argument("--rounds", type=int, default=15, help="alternating batch pairs")
    parser.add_argument("--profile", help="write a cProfile of the outputs batches to this file")
    args = parser.parse_args()
    print(json.dumps(measure(args.envelopes, args.batch, args.rounds, args.profile)))


if __name__ == "__main__":
    main()
