"""podkeeper's benchmark suite: the machine's raw limits, then podkeeper against them.

A benchmark is a function registered with :func:`benchmark`. It receives a
:class:`BenchContext` (its time budget, the raw limits measured so far) and
returns one :class:`Measurement` or an iterable of them::

    from benchmarks import BenchContext, Measurement, benchmark

    @benchmark("probe.tcp_throughput", quick_budget_s=5, full_budget_s=60,
               requires=("raw.tcp",))
    def tcp_throughput(ctx: BenchContext) -> list[Measurement]:
        rate = ...  # stop by ctx.deadline at the latest
        return [Measurement("probe.tcp_rate", rate, "probe/s", "raw.tcp", "ratio >= 0.7")]

``async def`` functions are run with :func:`asyncio.run`. Modules named
``benchmarks/bench_*.py`` are imported by ``python -m benchmarks``, so adding a
file there is all it takes to plug a benchmark in.

This package imports nothing from podkeeper: the raw limits must stay plain
Python so that podkeeper's figures can be compared with them honestly.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = [
    "REGISTRY",
    "BenchContext",
    "Benchmark",
    "BenchmarkFn",
    "Measurement",
    "Target",
    "benchmark",
    "parse_target",
]

Better: TypeAlias = Literal["higher", "lower"]

# "ratio >= 0.7" compares value / limit; "< 50 ms" compares the value itself.
# A trailing word (the unit) is allowed for readability and ignored.
_TARGET_RE = re.compile(
    r"^\s*(?P<ratio>ratio\s*)?(?P<op><=|>=|<|>)\s*"
    r"(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>[^\d\s].*)?$"
)


@dataclass(frozen=True)
class Target:
    """A parsed target: ``value OP number`` or ``ratio OP number``."""

    on_ratio: bool
    op: Literal["<", "<=", ">", ">="]
    number: float

    def met(self, value: float, ratio: float | None) -> bool | None:
        """True/False, or None when the target is on a ratio that could not be computed."""
        subject = ratio if self.on_ratio else value
        if subject is None or math.isnan(subject):
            return None
        if self.op == "<":
            return subject < self.number
        if self.op == "<=":
            return subject <= self.number
        if self.op == ">":
            return subject > self.number
        return subject >= self.number


def parse_target(text: str) -> Target:
    """Parse ``"ratio >= 0.7"`` or ``"< 50 ms"``; raise ValueError on anything else."""
    m = _TARGET_RE.match(text)
    if m is None:
        raise ValueError(f"bad target {text!r}: want e.g. 'ratio >= 0.7' or '< 50 ms'")
    op = _OPS[m.group("op")]
    return Target(on_ratio=m.group("ratio") is not None, op=op, number=float(m.group("num")))


_OPS: dict[str, Literal["<", "<=", ">", ">="]] = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True)
class Measurement:
    """One number from a benchmark.

    ``limit_name`` names the raw-limit measurement this one is compared with
    (ratio = value / that limit's value). ``target`` is checked for pass/fail,
    see :func:`parse_target`. ``better`` says which direction is good, and is
    printed in every row so a ratio is never misread.

    ``smoke=True``: the row was not measured at full size (a ``--quick`` level,
    not the search the target is about); it is shown with its target but not
    judged ("smoke"). ``skipped``: why the row could not be measured here (a
    peer not installed); the value is NaN and the verdict "skip". ``note``:
    a short remark printed with the row. A ``value`` of ``math.inf`` on a
    time reads "never" (Docker does not restart an unhealthy container).
    """

    name: str
    value: float
    unit: str
    limit_name: str | None = None
    target: str | None = None
    better: Better = "higher"
    smoke: bool = False
    skipped: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.target is not None:
            parse_target(self.target)  # fail at the benchmark, not in the report
        if self.better not in ("higher", "lower"):
            raise ValueError(f"better must be 'higher' or 'lower', not {self.better!r}")

    @classmethod
    def skip(cls, name: str, reason: str) -> Measurement:
        """A row that says why ``name`` was not measured on this machine."""
        return cls(name, float("nan"), "-", skipped=reason)


@dataclass
class BenchContext:
    """What a running benchmark may know: its budget and the limits measured before it."""

    name: str
    quick: bool
    budget_s: float
    started: float = field(default_factory=time.monotonic)
    limits: Mapping[str, float] = field(default_factory=dict)

    @property
    def deadline(self) -> float:
        """``time.monotonic()`` value by which the benchmark must have stopped measuring."""
        return self.started + self.budget_s

    def remaining(self) -> float:
        """Seconds left of the budget (never negative)."""
        return max(0.0, self.deadline - time.monotonic())


BenchmarkResult: TypeAlias = Measurement | Iterable[Measurement]
BenchmarkFn: TypeAlias = Callable[[BenchContext], BenchmarkResult | Awaitable[BenchmarkResult]]


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark. ``kind="raw"`` ones run first and provide the limits."""

    name: str
    fn: BenchmarkFn
    quick_budget_s: float | None  # None: full runs only (see `benchmark`)
    full_budget_s: float
    kind: Literal["raw", "podkeeper"] = "podkeeper"
    requires: tuple[str, ...] = ()

    def budget(self, quick: bool) -> float | None:
        return self.quick_budget_s if quick else self.full_budget_s


REGISTRY: dict[str, Benchmark] = {}


def benchmark(
    name: str,
    quick_budget_s: float | None,
    full_budget_s: float,
    *,
    kind: Literal["raw", "podkeeper"] = "podkeeper",
    requires: Iterable[str] = (),
) -> Callable[[BenchmarkFn], BenchmarkFn]:
    """Register ``fn`` under ``name`` with a time budget (seconds) for --quick and full runs.

    ``requires`` names other benchmarks (usually raw ones) whose measurements
    this one uses as limits; ``--only`` pulls them in. The budget is a
    contract: the function must stop measuring by ``ctx.deadline``; the
    harness interrupts it (``BudgetExceeded``) after a grace period.
    ``quick_budget_s=None`` leaves the benchmark out of ``--quick``: for one
    whose wait is fixed by what it measures (a 10 s back-off) and would not
    fit the quick run's minute.
    """
    if (quick_budget_s is not None and quick_budget_s <= 0) or full_budget_s <= 0:
        raise ValueError("budgets must be positive")

    def register(fn: BenchmarkFn) -> BenchmarkFn:
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} registered twice")
        REGISTRY[name] = Benchmark(
            name, fn, quick_budget_s, full_budget_s, kind=kind, requires=tuple(requires)
        )
        return fn

    return register
