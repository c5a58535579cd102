"""exec_probe against real processes (pkg/probe/exec/exec.go behaviour)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from podkeeper.core.result import Result
from podkeeper.runtime.checkers import exec_probe

pytestmark = pytest.mark.timeout(20)


async def test_exit_zero_is_success_with_output() -> None:
    outcome = await exec_probe(["echo", "healthy"], 2)
    assert outcome.result is Result.SUCCESS
    assert outcome.output == "healthy\n"
    assert outcome.error is None


async def test_nonzero_exit_is_failure_with_stdout_then_stderr() -> None:
    # stderr is written first but still comes after stdout: concatenated, not interleaved.
    script = "echo err >&2; sleep 0.05; echo out; exit 3"
    outcome = await exec_probe(["sh", "-c", script], 2)
    assert outcome.result is Result.FAILURE
    assert outcome.output == "out\nerr\n"


async def test_empty_output_failure() -> None:
    outcome = await exec_probe(["false"], 2)
    assert outcome == type(outcome)(Result.FAILURE, "")


async def test_output_capped_at_10_kib_and_child_never_blocks() -> None:
    # 1 MiB on each stream: far more than a pipe buffer, so the child would block
    # forever if the rest were not read and discarded.
    script = "head -c 1048576 /dev/zero | tr '\\0' a; head -c 1048576 /dev/zero | tr '\\0' b >&2"
    outcome = await exec_probe(["sh", "-c", script], 10)
    assert outcome.result is Result.SUCCESS
    assert outcome.output == "a" * 10240


async def test_cap_spans_stdout_and_stderr() -> None:
    script = "head -c 10000 /dev/zero | tr '\\0' a; head -c 1000 /dev/zero | tr '\\0' b >&2"
    outcome = await exec_probe(["sh", "-c", script], 10)
    assert outcome.output == "a" * 10000 + "b" * 240


async def test_invalid_utf8_is_replaced() -> None:
    outcome = await exec_probe(["printf", "ok\\377"], 2)
    assert outcome.output == "ok\ufffd"


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


async def test_timeout_kills_whole_group_including_grandchildren(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    # The shell records its pid (= the group id: the probe leads its own session),
    # then leaves a background sleep and a foreground sleep.
    script = f"echo $$ > {pidfile}; sleep 30 & sleep 30"
    loop = asyncio.get_running_loop()
    start = loop.time()
    outcome = await exec_probe(["sh", "-c", script], 0.5)
    assert loop.time() - start < 3
    assert outcome.result is Result.FAILURE
    assert outcome.output == (f'command timed out: "sh -c {script}" timed out after 500ms')
    pgid = int(pidfile.read_text())
    for _ in range(50):  # SIGKILL is asynchronous for the grandchildren
        if not _group_members(pgid):
            break
        await asyncio.sleep(0.02)
    assert _group_members(pgid) == []


async def test_timeout_message_uses_go_duration() -> None:
    outcome = await exec_probe(["sleep", "5"], 0.25)
    assert outcome.output == 'command timed out: "sleep 5" timed out after 250ms'


async def test_background_leftovers_are_killed_after_exit(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    outcome = await exec_probe(
        ["sh", "-c", f"sleep 30 >/dev/null 2>&1 & echo $! > {pidfile}; echo done"], 5
    )
    assert outcome.output == "done\n"
    pid = int(pidfile.read_text())
    for _ in range(50):
        if not _alive(pid):
            break
        await asyncio.sleep(0.02)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, just not reaped


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/nope"], 'exec: "/nope": stat /nope: no such file or directory'),
        (["no-such-binary-xyz"], 'exec: "no-such-binary-xyz": executable file not found in $PATH'),
    ],
)
async def test_missing_binary_is_failure(argv: list[str], message: str) -> None:
    outcome = await exec_probe(argv, 2)
    assert outcome.result is Result.FAILURE
    assert outcome.output == message


async def test_not_executable_is_failure(tmp_path: Path) -> None:
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)  # no x bit: execve fails with EACCES, even for root
    outcome = await exec_probe([str(script)], 2)
    assert outcome.result is Result.FAILURE
    assert outcome.output == f'exec: "{script}": permission denied'


async def test_missing_cwd_is_failure() -> None:
    outcome = await exec_probe(["true"], 2, cwd="/no/such/dir")
    assert outcome.result is Result.FAILURE
    assert "/no/such/dir" in outcome.output


async def test_env_and_cwd(tmp_path: Path) -> None:
    outcome = await exec_probe(
        ["sh", "-c", 'echo "$GREETING" && pwd'],
        2,
        env={"GREETING": "hello", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=str(tmp_path),
    )
    assert outcome.output == f"hello\n{tmp_path}\n"


async def test_cancelled_probe_kills_its_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    task = asyncio.create_task(exec_probe(["sh", "-c", f"echo $$ > {pidfile}; sleep 30"], 30))
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pgid = int(pidfile.read_text())
    for _ in range(50):
        if not _group_members(pgid):
            break
        await asyncio.sleep(0.02)
    assert _group_members(pgid) == []


async def test_many_concurrent_probes() -> None:
    outcomes = await asyncio.gather(*(exec_probe(["echo", str(i)], 5) for i in range(50)))
    assert [o.output for o in outcomes] == [f"{i}\n" for i in range(50)]


def _cgroup2_root() -> Path | None:
    for candidate in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
        if (candidate / "cgroup.procs").exists() and (candidate / "cgroup.controllers").exists():
            return candidate
    return None


async def test_cgroup_procs_joins_before_exec() -> None:
    root = _cgroup2_root()
    if root is None or not os.access(root, os.W_OK):
        pytest.skip("needs a writable cgroup v2 hierarchy (root)")
    group = root / f"podkeeper-checker-test-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
    except OSError as err:
        pytest.skip(f"cannot create a cgroup here: {err}")
    try:
        outcome = await exec_probe(
            ["cat", "/proc/self/cgroup"], 5, cgroup_procs=str(group / "cgroup.procs")
        )
        assert outcome.result is Result.SUCCESS
        relative = "/" + str(group.relative_to(root))
        assert f"0::{relative}\n" in outcome.output
    finally:
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                await asyncio.sleep(0.02)


async def test_cgroup_join_failure_is_a_prober_error(tmp_path: Path) -> None:
    procs = tmp_path / "missing-dir" / "cgroup.procs"
    outcome = await exec_probe(["true"], 5, cgroup_procs=str(procs))
    assert outcome.result is Result.UNKNOWN
    assert outcome.error == f"cannot join cgroup {procs}"


async def test_cgroup_path_keeps_missing_binary_message(tmp_path: Path) -> None:
    outcome = await exec_probe(["/nope"], 5, cgroup_procs=str(tmp_path / "cgroup.procs"))
    assert outcome.output == 'exec: "/nope": stat /nope: no such file or directory'


async def test_nul_byte_argument_is_failure() -> None:
    outcome = await exec_probe(["echo", "a\0b"], 2)
    assert outcome == type(outcome)(Result.FAILURE, 'exec: "echo": invalid argument')
