"""benchmarks/bench_pipeline.py's decision loop and full-check ceiling timed in CPU time of this thread
(``time.thread_time``) in alternating batches: on a shared machine the other processes' load moves
wall-clock rates by 2x within a minute, CPU time far less. Prints per algorithm the median µs of a
decision, of a full check, and their ratio, as JSON.

It uses only what every commit since 53af5f3 has (``decision_loop``, ``full_check``, the bench
world), so one copy of this file compares several checkouts in one run:

    cd <checkout> && PYTHONPATH=. python /path/to/benchmarks/pipeline_cpu.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._ceilings import full_check
from benchmarks._world import ALGORITHMS, build_world
from benchmarks.bench_pipeline import decision_loop


def _batch(fn: Callable[[], None], n: int) -> float:
    start = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - start) / n


def measure(envelopes: int, batch: int, rounds: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp) / "pki")
        for label in ALGORITHMS:
            pool = [
                raw
                for _, raw in world.chain(world.sender_of(label)).envelopes(envelopes, recipients=("H05",))
            ]
            decide, ceiling = decision_loop(world, pool), full_check(pool)
            _batch(decide, envelopes)  # one pass: chains cached, caches warm
            _batch(ceiling, batch)
            pairs = [(_batch(decide, batch), _batch(ceiling, batch)) for _ in range(rounds)]
            d, c = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
            out[label] = {
                "decision_us": round(d * 1e6, 1),
                "full_check_us": round(c * 1e6, 1),
                "ratio": round(c / d, 3),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelopes", type=int, default=1000, help="pre-signed envelopes per algorithm")
    parser.add_argument("--batch", type=int, default=100, help="calls per timed batch")
    parser.add_argument("--rounds", type=int, default=15, help="alternating batch pairs")
    args = parser.parse_args()
    print(json.dumps(measure(args.envelopes, args.batch, args.rounds)))


if __name__ == "__main__":
    main()
