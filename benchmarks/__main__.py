"""``python -m benchmarks [--quick] [-o FILE] [--only NAME,...]``.

Runs the raw limits first, then every podkeeper benchmark found in
``benchmarks/bench_*.py``, prints the machine and a table, and with ``-o``
writes the rows as JSON. Exit status: 0 when every selected benchmark ran
(targets missed still exit 0: this is a measurement, not a test), 1 when one
failed or overran its budget, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import pkgutil
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, MappingProxyType
from typing import Any

import benchmarks
from benchmarks import REGISTRY, BenchContext, Benchmark, Measurement
from benchmarks import raw as _raw  # registers the raw limits
from benchmarks.report import build_rows, machine_info, print_machine, print_table, write_json

assert _raw


class BudgetExceeded(Exception):
    """A benchmark ran past its budget plus grace and was interrupted."""


@contextmanager
def hard_deadline(seconds: float) -> Iterator[None]:
    """Raise BudgetExceeded in the main thread after ``seconds`` (SIGALRM interval timer)."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise BudgetExceeded(f"still running after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def discover() -> list[str]:
    """Import ``benchmarks/bench_*.py``; return one error line per module that failed."""
    errors = []
    for mod in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if mod.name.startswith("bench_"):
            try:
                importlib.import_module(f"benchmarks.{mod.name}")
            except Exception as exc:
                errors.append(f"benchmarks.{mod.name}: import failed: {exc!r}")
    return errors


def select(only: str | None) -> list[Benchmark]:
    """Raw benchmarks first, then the rest in registration order; ``--only`` plus requirements.

    A name in ``--only`` matches a benchmark exactly or as a dotted prefix
    (``raw`` selects every ``raw.*``).
    """
    chosen: set[str] = set()
    if only is None:
        chosen = set(REGISTRY)
    else:
        for want in filter(None, (w.strip() for w in only.split(","))):
            hits = {n for n in REGISTRY if n == want or n.startswith(want + ".")}
            if not hits:
                known = ", ".join(REGISTRY)
                raise SystemExit(f"error: no benchmark named {want!r} (known: {known})")
            chosen |= hits
        pending = list(chosen)
        while pending:
            for req in REGISTRY[pending.pop()].requires:
                if req not in REGISTRY:
                    raise SystemExit(f"error: a benchmark requires unknown {req!r}")
                if req not in chosen:
                    chosen.add(req)
                    pending.append(req)
    ordered = [b for b in REGISTRY.values() if b.name in chosen]
    return [b for b in ordered if b.kind == "raw"] + [b for b in ordered if b.kind != "raw"]


def run_one(b: Benchmark, ctx: BenchContext) -> list[Measurement]:
    out: Any = b.fn(ctx)
    if inspect.iscoroutine(out):
        out = asyncio.run(out)
    ms = [out] if isinstance(out, Measurement) else list(out)
    for m in ms:
        if not isinstance(m, Measurement):
            raise TypeError(f"{b.name} returned {type(m).__name__}, not Measurement")
    return ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="The machine's raw limits, then podkeeper against them.",
    )
    parser.add_argument("--quick", action="store_true", help="short budgets (raw part ~15 s)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write rows as JSON ('-': stdout)")
    parser.add_argument("--only", metavar="NAME,...", help="run these benchmarks (and requires)")
    parser.add_argument(
        "--budget", type=float, metavar="SECONDS", help="override every budget (smoke tests)"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.budget is not None and args.budget <= 0:
        parser.error("--budget must be positive")

    errors = discover()
    if args.list:
        for b in select(None):
            quick = "-" if b.quick_budget_s is None else f"{b.quick_budget_s:g} s"
            print(f"{b.name:32} {b.kind:9} quick {quick}, full {b.full_budget_s:g} s")
        return 0
    selected = select(args.only)

    # With -o -, stdout carries the JSON alone; everything human goes to stderr.
    human = sys.stderr if args.output == "-" else sys.stdout
    print_machine(machine_info(), human)

    limits: dict[str, float] = {}
    measurements: list[Measurement] = []
    t_start = time.monotonic()
    for b in selected:
        budget = args.budget if args.budget is not None else b.budget(args.quick)
        if budget is None:
            print(f"{b.name}: full runs only, skipped", file=sys.stderr, flush=True)
            continue
        ctx = BenchContext(b.name, args.quick, budget, limits=MappingProxyType(limits))
        print(f"{b.name}: running (budget {budget:g} s)", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            with hard_deadline(budget * 1.5 + 15):
                ms = run_one(b, ctx)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            errors.append(f"{b.name}: {exc!r}")
            continue
        took = time.monotonic() - t0
        print(f"{b.name}: took {took:.1f} s", file=sys.stderr, flush=True)
        if took > budget * 1.25 + 2:
            errors.append(f"{b.name}: took {took:.1f} s, budget {budget:g} s")
        for m in ms:
            limits[m.name] = m.value
        measurements += ms

    rows = build_rows(measurements)
    print(file=human)
    print_table(rows, human)
    print(f"\n{len(rows)} rows in {time.monotonic() - t_start:.1f} s", file=human)
    if args.output:
        write_json(rows, args.output)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
