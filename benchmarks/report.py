"""Turning measurements into rows with limits, ratios and verdicts; the table; the JSON file."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from benchmarks import Measurement, parse_target


@dataclass(frozen=True)
class Row:
    """One line of the report. ``ratio`` = value / limit; ``better`` says which way is good."""

    name: str
    value: float
    unit: str
    better: str
    limit_name: str | None
    limit: float | None
    ratio: float | None
    target: str | None
    passed: bool | None  # None: no target, its limit was not measured, smoke or skipped
    smoke: bool = False
    skipped: str | None = None
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON has no NaN or infinity: those values are null, and infinity says "never"."""
        note = self.note
        if self.value == math.inf and not note:
            note = "never"
        return {
            "name": self.name,
            "value": _finite(self.value),
            "unit": self.unit,
            "limit": _finite(self.limit),
            "ratio": _finite(self.ratio),
            "target": self.target,
            "limit_name": self.limit_name,
            "better": self.better,
            "passed": self.passed,
            "smoke": self.smoke,
            "skipped": self.skipped,
            "note": note,
        }


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def build_rows(measurements: Iterable[Measurement]) -> list[Row]:
    """Resolve every ``limit_name`` against the measurements of the same run."""
    ms = list(measurements)
    values = {m.name: m.value for m in ms}
    rows = []
    for m in ms:
        limit = values.get(m.limit_name) if m.limit_name else None
        ratio = _ratio(m.value, limit)
        judged = m.target is not None and not m.smoke and m.skipped is None
        passed = parse_target(m.target).met(m.value, ratio) if judged and m.target else None
        rows.append(
            Row(
                m.name,
                m.value,
                m.unit,
                m.better,
                m.limit_name,
                limit,
                ratio,
                m.target,
                passed,
                smoke=m.smoke,
                skipped=m.skipped,
                note=m.note,
            )
        )
    return rows


def _ratio(value: float, limit: float | None) -> float | None:
    """value / limit; None when the limit is missing, zero or NaN (a skipped peer).
    Over an infinite limit ("never") the ratio is 0; an infinite value gives None."""
    if limit is None or limit == 0 or math.isnan(limit) or math.isnan(value):
        return None
    if math.isinf(value):
        return None
    return value / limit


def machine_info() -> dict[str, str]:
    """CPU model, cores, kernel, Python: printed above the table so numbers have a context."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            if key.strip() in ("model name", "Hardware", "cpu model"):
                model = val.strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "cpu": model,
        "cores": f"{os.cpu_count()} online, {usable} usable by this process",
        "memory": mem or "unknown",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load average": f"{load} (at start)",
    }


def print_machine(info: Mapping[str, str], out: TextIO = sys.stdout) -> None:
    for key, val in info.items():
        print(f"{key + ':':14} {val}", file=out)
    print(file=out)


def fmt_number(v: float | None) -> str:
    if v is None:
        return "-"
    if v == math.inf:
        return "never"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _verdict(row: Row) -> str:
    if row.skipped is not None:
        return "skip"
    if row.target is None:
        return ""
    if row.smoke:
        return "smoke"
    if row.passed is None:
        return "n/a"
    return "pass" if row.passed else "FAIL"


def _note(r: Row) -> str:
    if r.skipped is not None:
        return f"skipped: {r.skipped}"
    return r.note or ""


def print_table(rows: Iterable[Row], out: TextIO = sys.stdout) -> None:
    """A fixed-width table; ``better`` is spelt out on every row so no ratio is misread.

    A ``note`` column (a skipped row's reason, a remark) is added when a row has one."""
    rows = list(rows)
    notes = any(r.skipped or r.note for r in rows)
    header: tuple[str, ...] = ("name", "value", "unit", "better", "limit", "ratio", "target")
    header += ("result", "note") if notes else ("result",)
    lines = [header]
    for r in rows:
        limit = f"{r.limit_name}={fmt_number(r.limit)}" if r.limit_name else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        lines.append(
            (
                r.name,
                "-" if r.skipped is not None else fmt_number(r.value),
                r.unit,
                "-" if r.skipped is not None else r.better,
                limit,
                ratio,
                r.target or "-",
                _verdict(r),
            )
        )
        if notes:
            lines[-1] += (_note(r),)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {1, 5}  # numbers
    for k, line in enumerate(lines):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(cells).rstrip(), file=out)
        if k == 0:
            print("  ".join("-" * w for w in widths), file=out)


def write_json(rows: Iterable[Row], path: str) -> None:
    """The ``-o FILE`` output: a list of ``{name, value, unit, limit, ratio, target, ...}``."""
    data = [r.as_json() for r in rows]
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        Path(path).write_text(text)
