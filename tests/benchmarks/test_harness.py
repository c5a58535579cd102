"""The benchmark harness: output shape and ratio arithmetic. Never a timing assertion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks/` lives at the repo root, outside src/
    sys.path.insert(0, str(ROOT))

import benchmarks.report  # noqa: E402

Measurement, parse_target = benchmarks.Measurement, benchmarks.parse_target
build_rows = benchmarks.report.build_rows

BENCH = [sys.executable, "-m", "benchmarks"]
KEYS = {"name", "value", "unit", "limit", "ratio", "target"}


def test_quick_run_of_one_raw_benchmark_writes_the_json_rows(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [*BENCH, "--quick", "--only", "raw.spawn", "--budget", "0.3", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "cpu:" in proc.stdout and "raw.spawn" in proc.stdout  # machine info and table
    rows = json.loads(out.read_text())
    assert isinstance(rows, list) and rows
    for row in rows:
        assert row.keys() >= KEYS
        assert isinstance(row["name"], str) and isinstance(row["unit"], str)
        assert isinstance(row["value"], int | float)
        assert row["better"] in ("higher", "lower")
    names = {row["name"] for row in rows}
    assert {"raw.spawn", "raw.spawn.posix_spawn", "raw.spawn.popen_vfork"} <= names
    assert all(name.startswith("raw.spawn") for name in names)  # --only kept the others out


def test_raw_grpc_reaches_its_own_server_process(tmp_path: Path) -> None:
    # The one raw group whose server is a separate process (fork+exec, for grpc's sake):
    # both clients must have completed calls against it, whatever the rate.
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [*BENCH, "--quick", "--only", "raw.grpc", "--budget", "0.3", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    values = {row["name"]: row["value"] for row in json.loads(out.read_text())}
    assert values.keys() == {"raw.grpc", "raw.grpc.sync", "raw.grpc.asyncio", "raw.grpc.concurrent"}
    assert all(v > 0 for v in values.values())
    assert "error(s) ended a slice early" not in proc.stderr


def test_unknown_benchmark_name_is_a_usage_error() -> None:
    proc = subprocess.run(
        [*BENCH, "--only", "no.such.bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "no.such.bench" in proc.stderr


def test_ratio_is_value_over_the_named_limit_and_targets_are_judged() -> None:
    rows = build_rows(
        [
            Measurement("raw.tcp", 20_000.0, "conn/s"),
            Measurement("probe.tcp", 15_000.0, "probe/s", "raw.tcp", "ratio >= 0.7"),
            Measurement("probe.p99", 60.0, "ms", None, "< 50 ms", better="lower"),
            Measurement("probe.http", 1.0, "probe/s", "raw.http", "ratio >= 0.7"),
        ]
    )
    by_name = {r.name: r for r in rows}
    assert by_name["raw.tcp"].ratio is None and by_name["raw.tcp"].passed is None
    assert by_name["probe.tcp"].limit == 20_000.0
    assert by_name["probe.tcp"].ratio == pytest.approx(0.75)
    assert by_name["probe.tcp"].passed is True
    assert by_name["probe.p99"].passed is False
    assert by_name["probe.http"].passed is None  # its limit was not measured in this run


@pytest.mark.parametrize(
    ("text", "on_ratio", "op", "number"),
    [("ratio >= 0.7", True, ">=", 0.7), ("< 50 ms", False, "<", 50.0), ("<=2", False, "<=", 2.0)],
)
def test_targets_parse(text: str, on_ratio: bool, op: str, number: float) -> None:
    t = parse_target(text)
    assert (t.on_ratio, t.op, t.number) == (on_ratio, op, number)


def test_a_bad_target_fails_where_the_measurement_is_made() -> None:
    with pytest.raises(ValueError, match="bad target"):
        Measurement("x", 1.0, "s", None, "about 3")
