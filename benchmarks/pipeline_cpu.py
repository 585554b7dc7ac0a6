"""benchmarks/bench_pipeline.py's decision loop and full-check ceiling timed in CPU time of this thread
(``time.thread_time``) in alternating batches: on a shared machine the other processes' load moves
wall-clock rates by 2x within a minute, CPU time far less. Prints per algorithm the median µs of a
decision, of a full check, their ratio, and the median of each batch pair's ratio, as JSON.

It uses only what every commit since 53af5f3 has (``decision_loop``, ``full_check``, the bench
world), so one copy of this file compares several checkouts in one run:

    cd <checkout> && PYTHONPATH=. python /path/to/benchmarks/pipeline_cpu.py [--rounds 15]

or, interleaved batch by batch (one process per checkout, each batch pair of one checkout next to
the other's, the order turned each round, so every checkout meets the same load):

    python /path/to/benchmarks/pipeline_cpu.py --compare <checkout> <checkout>... [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _batch(fn: Callable[[], None], n: int) -> float:
    start = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - start) / n


Pair = tuple[float, float]  # seconds of CPU per decision, per full check


def _pair(decide: Callable[[], None], ceiling: Callable[[], None], batch: int) -> Callable[[], Pair]:
    return lambda: (_batch(decide, batch), _batch(ceiling, batch))


@contextmanager
def _loops(envelopes: int, batch: int) -> Iterator[dict[str, Callable[[], Pair]]]:
    """Per algorithm: one alternating batch pair (decision, ceiling), caches warm. Imported here:
    --compare itself runs outside any checkout."""
    from benchmarks._ceilings import full_check
    from benchmarks._world import ALGORITHMS, build_world
    from benchmarks.bench_pipeline import decision_loop

    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp) / "pki")
        pairs: dict[str, Callable[[], Pair]] = {}
        for label in ALGORITHMS:
            pool = [
                raw
                for _, raw in world.chain(world.sender_of(label)).envelopes(envelopes, recipients=("H05",))
            ]
            decide, ceiling = decision_loop(world, pool), full_check(pool)
            _batch(decide, envelopes)  # one pass: chains cached, caches warm
            _batch(ceiling, batch)
            pairs[label] = _pair(decide, ceiling, batch)
        yield pairs


def _summary(pairs: list[Pair]) -> dict[str, float]:
    """``ratio``: of the medians; ``pair_ratio``: the median of each batch pair's own ratio (its two
    batches ran back to back, so a drift of the load between pairs cancels out of it)."""
    d, c = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    return {
        "decision_us": round(d * 1e6, 1),
        "full_check_us": round(c * 1e6, 1),
        "ratio": round(c / d, 3),
        "pair_ratio": round(statistics.median(p[1] / p[0] for p in pairs), 3),
    }


def measure(envelopes: int, batch: int, rounds: int) -> dict[str, dict[str, float]]:
    with _loops(envelopes, batch) as loops:
        return {label: _summary([pair() for _ in range(rounds)]) for label, pair in loops.items()}


def serve(envelopes: int, batch: int) -> None:
    """For --compare: one batch pair of the named algorithm per line read, answered as JSON."""
    with _loops(envelopes, batch) as loops:
        print(json.dumps(list(loops)), flush=True)  # ready: the algorithms
        for line in sys.stdin:
            print(json.dumps(loops[line.strip()]()), flush=True)


def compare(checkouts: list[str], envelopes: int, batch: int, rounds: int) -> dict[str, object]:
    """Each checkout's figures, its batch pairs interleaved with the others' (order turned per round)."""
    here = Path(__file__).resolve()
    servers = []
    for tree in checkouts:
        env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve())}
        args = [sys.executable, str(here), "--serve", "--envelopes", str(envelopes), "--batch", str(batch)]
        pipe = subprocess.PIPE
        servers.append(subprocess.Popen(args, cwd=tree, env=env, text=True, stdin=pipe, stdout=pipe))
    try:
        labels: list[str] = []
        for server in servers:
            assert server.stdout is not None
            ready = json.loads(server.stdout.readline())  # the algorithms every checkout has
            labels = [label for label in ready if label in labels or not labels]
        got: list[dict[str, list[Pair]]] = [{label: [] for label in labels} for _ in checkouts]
        load = [os.getloadavg()[0]]
        for r in range(rounds):
            for label in labels:
                for i in [(r + k) % len(servers) for k in range(len(servers))]:
                    server = servers[i]
                    assert server.stdin is not None and server.stdout is not None
                    server.stdin.write(label + "\n")
                    server.stdin.flush()
                    d, c = json.loads(server.stdout.readline())
                    got[i][label].append((d, c))
            load.append(os.getloadavg()[0])
    finally:
        for server in servers:
            if server.stdin is not None:
                server.stdin.close()
            server.wait()
    out: dict[str, object] = {"load_1min": [min(load), max(load)]}
    for tree, pairs in zip(checkouts, got, strict=True):
        out[tree] = {label: _summary(p) for label, p in pairs.items()}
    # per round, each checkout's pair ratio over the first checkout's, measured within a second of it
    out["pair_ratio_vs_first"] = {
        tree: {label: round(statistics.median(_ratios(pairs[label], got[0][label])), 3) for label in labels}
        for tree, pairs in zip(checkouts[1:], got[1:], strict=True)
    }
    return out


def _ratios(pairs: list[Pair], first: list[Pair]) -> list[float]:
    return [(c / d) / (c0 / d0) for (d, c), (d0, c0) in zip(pairs, first, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelopes", type=int, default=1000, help="pre-signed envelopes per algorithm")
    parser.add_argument("--batch", type=int, default=100, help="calls per timed batch")
    parser.add_argument("--rounds", type=int, default=15, help="alternating batch pairs")
    parser.add_argument("--compare", nargs="+", metavar="CHECKOUT", help="checkouts measured interleaved")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.envelopes, args.batch)
    elif args.compare:
        print(json.dumps(compare(args.compare, args.envelopes, args.batch, args.rounds)))
    else:
        print(json.dumps(measure(args.envelopes, args.batch, args.rounds)))


if __name__ == "__main__":
    main()
