"""The peers group's harness logic and the report's smoke/skip/never rows. No timed assertion:
the peers themselves (dockerd, containerd) run only in `python -m benchmarks --only peers`."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks/` lives at the repo root, outside src/
    sys.path.insert(0, str(ROOT))

import benchmarks.bench_peers as peers  # noqa: E402
import benchmarks.bench_podkeeper as bench_podkeeper  # noqa: E402
import benchmarks.report as report  # noqa: E402

from benchmarks import BenchContext, Measurement  # noqa: E402

BENCH = [sys.executable, "-m", "benchmarks"]


# ---------------------------------------------------------------- the report


def test_smoke_rows_show_their_target_but_are_not_judged() -> None:
    rows = report.build_rows(
        [
            Measurement("raw.spawn", 2000.0, "spawn/s"),
            Measurement("probe.exec.rate", 100.0, "probe/s", "raw.spawn", "ratio >= 0.7"),
            Measurement(
                "probe.exec.rate_q", 100.0, "probe/s", "raw.spawn", "ratio >= 0.7", smoke=True
            ),
        ]
    )
    full, smoke = rows[1], rows[2]
    assert full.passed is False and report._verdict(full) == "FAIL"
    assert smoke.passed is None and report._verdict(smoke) == "smoke"
    assert smoke.ratio == pytest.approx(0.05)  # the ratio is still shown
    out = io.StringIO()
    report.print_table(rows, out)
    line = next(x for x in out.getvalue().splitlines() if x.startswith("probe.exec.rate_q"))
    assert "smoke" in line and "FAIL" not in line


def test_a_skipped_row_prints_its_reason_and_json_has_no_nan(tmp_path: Path) -> None:
    rows = report.build_rows(
        [
            Measurement("peers.podman", math.nan, "-", skipped="no systemd"),
            Measurement.skip("peers.other", "not installed"),
            Measurement("peers.podkeeper.x", 5.0, "ms", better="lower"),
        ]
    )
    assert [report._verdict(r) for r in rows] == ["skip", "skip", ""]
    out = io.StringIO()
    report.print_table(rows, out)
    text = out.getvalue()
    assert "skipped: no systemd" in text and "skipped: not installed" in text
    assert " nan " not in text
    path = tmp_path / "rows.json"
    report.write_json(rows, str(path))
    data = json.loads(path.read_text())  # allow_nan=False in write_json: NaN must be null
    assert data[0]["value"] is None and data[0]["skipped"] == "no systemd"
    assert data[2]["value"] == 5.0 and data[2]["skipped"] is None and data[2]["smoke"] is False


def test_never_is_infinite_time_reads_never_and_any_time_beats_it(tmp_path: Path) -> None:
    rows = report.build_rows(
        [
            Measurement("peers.docker.fail_to_new_instance", math.inf, "ms", better="lower"),
            Measurement(
                "peers.podkeeper_vs_docker.fail_to_new_instance",
                70.0,
                "ms",
                "peers.docker.fail_to_new_instance",
                "ratio < 1",
                better="lower",
            ),
        ]
    )
    assert rows[1].ratio == 0.0 and rows[1].passed is True
    out = io.StringIO()
    report.print_table(rows, out)
    assert "never" in out.getvalue()
    path = tmp_path / "rows.json"
    report.write_json(rows, str(path))
    docker, mine = json.loads(path.read_text())
    assert docker["value"] is None and docker["note"] == "never"
    assert mine["limit"] is None and mine["ratio"] == 0.0 and mine["passed"] is True


def test_the_table_has_no_note_column_when_no_row_has_a_note() -> None:
    out = io.StringIO()
    report.print_table(report.build_rows([Measurement("a", 1.0, "x")]), out)
    assert out.getvalue().splitlines()[0].split()[-1] == "result"


# ----------------------------------------------------- the throughput targets


@pytest.mark.parametrize("kind", ["http", "tcp"])
def test_http_and_tcp_throughput_are_tracked_without_a_target(kind: str) -> None:
    best = {"rate": 3000.0, "p99": 9.0, "cpu": 60.0}
    rows = bench_podkeeper.throughput_rows(kind, best, f"raw.{kind}", with_cpu=True)
    by_name = {m.name: m for m in rows}
    assert by_name[f"probe.{kind}.rate"].target is None
    assert by_name[f"probe.{kind}.rate"].limit_name == f"raw.{kind}"  # the ratio stays
    assert by_name[f"probe.{kind}.capacity"].target is None
    assert by_name[f"probe.{kind}.p99_lateness"].target == "< 50 ms"


def test_exec_throughput_keeps_its_target_and_a_quick_run_marks_it_smoke() -> None:
    best = {"rate": 250.0, "p99": 3.0, "cpu": math.nan}
    full = bench_podkeeper.throughput_rows("exec", best, "raw.spawn", with_cpu=False)
    quick = bench_podkeeper.throughput_rows("exec", best, "raw.spawn", with_cpu=False, smoke=True)
    assert full[0].target == "ratio >= 0.7" and not full[0].smoke
    assert quick[0].smoke
    rows = report.build_rows([Measurement("raw.spawn", 2000.0, "spawn/s"), *quick])
    assert report._verdict(rows[1]) == "smoke"


# ------------------------------------------------------------------ the peers


def test_busybox_image_archive_is_a_consistent_docker_archive(tmp_path: Path) -> None:
    fake = tmp_path / "busybox"
    fake.write_bytes(b"\x7fELF not really busybox")
    tar = tmp_path / "img.tar"
    image_id = peers.build_busybox_image(tar, busybox=fake, tag="t:1")
    with tarfile.open(tar) as t:
        manifest = json.loads(t.extractfile("manifest.json").read())  # type: ignore[union-attr]
        (entry,) = manifest
        config_bytes = t.extractfile(entry["Config"]).read()  # type: ignore[union-attr]
        (layer_name,) = entry["Layers"]
        layer_bytes = t.extractfile(layer_name).read()  # type: ignore[union-attr]
    assert entry["RepoTags"] == ["t:1"]
    assert hashlib.sha256(config_bytes).hexdigest() == image_id == entry["Config"][:-5]
    config = json.loads(config_bytes)
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(layer_bytes).hexdigest()}"]
    assert config["config"]["Healthcheck"]["Test"] == ["CMD", "true"]  # exec form, no shell
    with tarfile.open(fileobj=io.BytesIO(layer_bytes)) as layer:
        members = {m.name: m for m in layer.getmembers()}
        assert layer.extractfile("bin/busybox").read() == fake.read_bytes()  # type: ignore[union-attr]
    for applet in ("sh", "true", "sleep", "test"):
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"
    # the same busybox gives the same image
    assert peers.build_busybox_image(tmp_path / "again.tar", busybox=fake, tag="t:1") == image_id


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PK_BENCH_PEERS_N", raising=False)
    monkeypatch.delenv("PK_BENCH_PEERS_WINDOW", raising=False)
    assert peers.settings(quick=False) == (20, 60.0)
    assert peers.settings(quick=True) == (20, 10.0)
    monkeypatch.setenv("PK_BENCH_PEERS_N", "5")
    monkeypatch.setenv("PK_BENCH_PEERS_WINDOW", "2.5")
    assert peers.settings(quick=False) == (5, 2.5)
    monkeypatch.setenv("PK_BENCH_PEERS_N", "0")
    with pytest.raises(ValueError):
        peers.settings(quick=False)


def test_versus_rows_divide_podkeeper_by_the_peer_and_leave_out_unmeasured_ones() -> None:
    limits = {
        "peers.podkeeper.cpu_per_1k_checks": 4.0,
        "peers.podkeeper.fail_to_new_instance": 70.0,
        "peers.podkeeper.start_one": 150.0,
        "peers.x.cpu_per_1k_checks": 40.0,
        "peers.x.fail_to_new_instance": math.nan,  # a skipped row
        "peers.x.start_one": 300.0,
    }
    rows = {m.name: m for m in peers.versus("x", limits)}
    assert set(rows) == {"peers.podkeeper_vs_x.cpu_per_1k_checks", "peers.podkeeper_vs_x.start_one"}
    built = {
        r.name: r
        for r in report.build_rows(
            [*(Measurement(k, v, "u") for k, v in limits.items()), *rows.values()]
        )
    }
    cpu = built["peers.podkeeper_vs_x.cpu_per_1k_checks"]
    assert cpu.ratio == pytest.approx(0.1) and cpu.target == "ratio <= 0.2" and cpu.passed
    assert built["peers.podkeeper_vs_x.start_one"].target is None


def test_go_times_with_nanoseconds_parse() -> None:
    a = peers._go_time("2026-12-04T18:15:49.424040107Z")
    b = peers._go_time("2026-12-04T18:15:49.468066700Z")
    assert b - a == pytest.approx(0.044026593, abs=1e-6)
    assert peers._go_time("1970-01-01T00:00:10Z") == 10.0


def test_podman_peer_skips_with_its_reason_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [*BENCH, "--quick", "--only", "peers.podman", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(out.read_text())}
    assert set(rows) == {"peers.podman"}
    if peers.systemd_absent_reason() is not None:
        assert "systemd" in rows["peers.podman"]["skipped"]
    assert "skip" in proc.stdout


def _cri_unavailable() -> str | None:
    from podkeeper.runtime.cri.containerd import unavailable_reason
    from podkeeper.runtime.cri.testimages import busybox_available

    return unavailable_reason() or busybox_available()


@pytest.mark.skipif(_cri_unavailable() is not None, reason=str(_cri_unavailable()))
@pytest.mark.timeout(450)  # about 80 s idle, near 120 s at load 20: the run's own bound is 400 s
def test_cri_peer_measures_podkeepers_containerd_runtime_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    """Two pods for 3 s: every row is a number (not a skip), the CRI side cost more CPU per
    check than the process runtime, and no containerd, shim or cgroup of the run is left."""
    out = tmp_path / "rows.json"
    env = dict(os.environ, PK_BENCH_PEERS_N="2", PK_BENCH_PEERS_WINDOW="3")
    with subprocess.Popen(
        [*BENCH, "--quick", "--only", "peers.containerd_cri", "-o", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        _, stderr = proc.communicate(timeout=400)
    rows = {r["name"]: r for r in json.loads(out.read_text())}
    cri = {k: v for k, v in rows.items() if k.startswith("peers.containerd_cri.")}
    assert not any(r.get("skipped") for r in cri.values()), stderr[-3000:]
    assert cri["peers.containerd_cri.checks_per_s"]["value"] > 0
    for part in ("daemons", "driver", "containers"):
        assert cri[f"peers.containerd_cri.cpu_per_1k_checks.{part}"]["value"] > 0
    fail_ms = cri["peers.containerd_cri.fail_to_new_instance"]["value"]
    assert fail_ms is not None and fail_ms > 0, stderr[-3000:]  # not NaN: it ran
    assert "peers.podkeeper_vs_containerd_cri.cpu_per_1k_checks" in rows
    left = subprocess.run(["pgrep", "-f", "pk-bench-"], capture_output=True, text=True).stdout
    assert left == "", left
    # This run's (named by the benchmark's pid), not one an earlier killed run left.
    assert not list(Path("/sys/fs/cgroup/cpuacct").glob(f"pk-peers-cri-{proc.pid}-*"))


def _can_make_cgroups() -> bool:
    return os.geteuid() == 0 and (
        Path("/sys/fs/cgroup/cpuacct/cpuacct.usage").exists()
        or Path("/sys/fs/cgroup/cgroup.controllers").exists()
    )


@pytest.mark.skipif(not _can_make_cgroups(), reason="needs root and a cpuacct or v2 cgroup")
def test_cpu_cgroup_counts_a_spawned_process_and_is_removed_with_its_children() -> None:
    cg = peers.CpuCgroup(prefix="pk-peers-test")
    try:
        procs = cg.procs_file("daemons")
        cg.make("containers")
        # a child that burns some CPU, then waits to be killed
        busy = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 60"
        proc = peers.spawn_in_cgroup(["/bin/sh", "-c", busy], procs)
        end = time.monotonic() + 30
        while cg.usage_ns("daemons") == 0 or proc.pid not in cg.pids():
            assert time.monotonic() < end, "the child never ran in the cgroup"
            time.sleep(0.05)
        assert cg.usage_ns() >= cg.usage_ns("daemons") > 0  # the parent counts the child
        assert cg.path("containers") == f"/{cg.name}/containers"
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"{cg.name}-dir"
        tmp.mkdir()
        peers.finish_daemon(proc, cg, tmp)  # kills what is in the cgroup, removes the dir
        assert proc.returncode is not None and not tmp.exists()
        assert cg.pids() == []
    finally:
        cg.remove()
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{cg.name}"))
    assert not (Path("/sys/fs/cgroup") / cg.name).exists()


@pytest.mark.parametrize(
    ("fn", "row", "missing"),
    [
        (peers.peers_docker, "peers.docker", "dockerd not installed"),
        (peers.peers_containerd_ctr, "peers.containerd_ctr", "containerd not installed"),
    ],
)
def test_a_peer_that_is_not_installed_is_a_skip_row_with_the_reason(
    fn: object, row: str, missing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dockerd, containerd or ctr on it
    ctx = BenchContext(row, quick=True, budget_s=10, limits={})
    before = set(Path("/sys/fs/cgroup").glob("*/pk-peers-*"))
    rows = list(fn(ctx))  # type: ignore[operator]
    assert [(m.name, bool(m.skipped)) for m in rows] == [(row, True)]
    reason = rows[0].skipped or ""
    # Without root there is no cgroup of our own either: that is the reason then.
    assert missing in reason or "cgroup" in reason
    assert set(Path("/sys/fs/cgroup").glob("*/pk-peers-*")) == before  # nothing left


def test_only_dead_shim_sockets_are_removed(tmp_path: Path) -> None:
    import socket

    dead, live, absent = tmp_path / "dead", tmp_path / "live", tmp_path / "absent"
    s1 = socket.socket(socket.AF_UNIX)
    s1.bind(str(dead))
    s1.close()  # the file stays, nobody listens: a killed shim's socket
    s2 = socket.socket(socket.AF_UNIX)
    s2.bind(str(live))
    s2.listen()
    try:
        assert peers.remove_dead_shim_sockets([dead, live, absent]) == 1
        assert not dead.exists() and live.exists()
    finally:
        s2.close()


def test_shim_socket_is_under_containerds_fixed_socket_dir() -> None:
    a = peers.shim_socket("/tmp/x/containerd.sock", "ns", "c1")
    assert a.parent == Path("/run/containerd/s") and len(a.name) == 64
    assert a != peers.shim_socket("/tmp/x/containerd.sock", "ns", "c2")
