"""docbus benchmarks: every figure beside a raw ceiling measured in the same run (docs/PERFORMANCE.md)."""
