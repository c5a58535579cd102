"""`triage.all` (benchmarks/triage_bench.py) in the suite : python -m benchmarks imports bench_*."""

from benchmarks.triage_bench import triage_all

__all__ = ["triage_all"]
