"""The process runtime with real processes (and real cgroups when root)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podkeeper.core.spec import Resources
from podkeeper.runtime.cgroups import CgroupManager
from podkeeper.runtime.interface import ExitInfo, StartError, StartRequest
from podkeeper.runtime.logs import container_log_path
from podkeeper.runtime.process import (
    ProcessInstance,
    ProcessRuntime,
    preflight,
    read_termination_message,
)
from podkeeper.testing import cgroup_skip_reason

PY = sys.executable
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


def _cgroup_manager() -> CgroupManager | None:
    if os.geteuid() != 0:
        return None
    mgr = CgroupManager(root_name=f"podkeeper-test-{uuid.uuid4().hex[:8]}")
    return mgr if mgr.available()[0] else None


_ROOT_SKIP = cgroup_skip_reason()
needs_cgroups = pytest.mark.skipif(bool(_ROOT_SKIP), reason=_ROOT_SKIP or "n/a")


@pytest.fixture(params=["cgroups", "plain"])
async def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    mgr = None
    if request.param == "cgroups":
        if _ROOT_SKIP:
            pytest.skip(_ROOT_SKIP)
        mgr = _cgroup_manager()
    rt = ProcessRuntime(str(tmp_path), mgr)
    yield rt
    await asyncio.wait_for(rt.shutdown(), 10)
    if mgr is not None:
        assert mgr.instances() == [], "instance cgroups left behind"
        mgr.cleanup_stale()
        mgr.remove_root()


@pytest.fixture
async def cg_runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    if _ROOT_SKIP:
        pytest.skip(_ROOT_SKIP)
    mgr = _cgroup_manager()
    assert mgr is not None
    rt = ProcessRuntime(str(tmp_path), mgr)
    yield rt
    await asyncio.wait_for(rt.shutdown(), 10)
    assert mgr.instances() == [], "instance cgroups left behind"
    mgr.remove_root()


_counter = 0


def req(
    rt: ProcessRuntime,
    *argv: str,
    env: dict[str, str] | None = None,
    working_dir: str = "",
    resources: Resources | None = None,
) -> StartRequest:
    global _counter
    _counter += 1
    return StartRequest(
        pod_name="p",
        namespace="default",
        pod_uid="uid1",
        container_name="c",
        instance_id=f"i{_counter}-{uuid.uuid4().hex[:6]}",
        argv=argv,
        command=tuple(argv),
        env=dict(BASE_ENV) if env is None else env,
        working_dir=working_dir,
        log_path=container_log_path(rt.home, "default", "p", "uid1", "c", _counter),
        resources=resources or Resources(),
    )


async def run(rt: ProcessRuntime, r: StartRequest, timeout: float = 10) -> ExitInfo:
    inst = await rt.start(r)
    return await asyncio.wait_for(inst.wait(), timeout)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_exit_codes(runtime: ProcessRuntime) -> None:
    ok = await run(runtime, req(runtime, "true"))
    assert (ok.exit_code, ok.signal, ok.oom_killed) == (0, None, False)
    assert ok.finished_at == pytest.approx(time.time(), abs=5)
    three = await run(runtime, req(runtime, "sh", "-c", "exit 3"))
    assert (three.exit_code, three.signal) == (3, None)


async def test_sigsegv_is_139(runtime: ProcessRuntime) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    info = await run(runtime, req(runtime, PY, "-c", code))
    assert (info.exit_code, info.signal, info.oom_killed) == (139, signal.SIGSEGV, False)
    assert info.sent_by_us is None


async def test_external_sigkill_is_137_not_oom(runtime: ProcessRuntime) -> None:
    inst = await runtime.start(req(runtime, "sleep", "30"))
    os.kill(inst.pid, signal.SIGKILL)
    info = await asyncio.wait_for(inst.wait(), 10)
    assert (info.exit_code, info.signal) == (137, signal.SIGKILL)
    assert not info.oom_killed and info.oom_kills_in_instance == 0
    assert info.sent_by_us is None and info.signal_sender is None


async def test_stop_sigterm(runtime: ProcessRuntime) -> None:
    inst = await runtime.start(req(runtime, "sleep", "30"))
    await asyncio.wait_for(runtime.stop(inst, 5), 10)
    info = await inst.wait()
    assert (info.exit_code, info.sent_by_us, info.sigterm_ignored_seconds) == (143, "SIGTERM", None)


async def test_sigterm_ignored_is_killed_after_grace(runtime: ProcessRuntime) -> None:
    r = req(runtime, "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done")
    inst = await runtime.start(r)
    await _wait_for_log(r.log_path, "ready")
    t0 = time.monotonic()
    await asyncio.wait_for(runtime.stop(inst, 0.5), 10)
    elapsed = time.monotonic() - t0
    info = await inst.wait()
    assert (info.exit_code, info.signal) == (137, signal.SIGKILL)
    assert info.sent_by_us == "SIGKILL after grace"
    assert info.sigterm_ignored_seconds is not None
    assert 0.45 <= info.sigterm_ignored_seconds < 1.5
    assert 0.45 <= elapsed < 2.0
    assert not info.oom_killed


async def _wait_for_log(path: str, text: str, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and text in (content := _read(path)):
            return content
        await asyncio.sleep(0.01)
    raise AssertionError(f"{text!r} not in {path}")


async def test_grandchildren_die_on_stop(runtime: ProcessRuntime, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # One grandchild stays in the group; one leaves it with setsid (only the cgroup finds it).
    script = (
        f"sleep 60 & echo $! >> {pids}; "
        f"setsid sh -c 'echo $$ >> {pids}; exec sleep 60' & "
        "echo ready; wait"
    )
    r = req(runtime, "sh", "-c", script)
    inst = await runtime.start(r)
    await _wait_for_log(r.log_path, "ready")
    deadline = time.monotonic() + 5
    while len(_read(str(pids)).split()) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    children = [int(p) for p in _read(str(pids)).split()]
    assert len(children) == 2
    await asyncio.wait_for(runtime.stop(inst, 2), 10)
    in_group = children[0]
    assert not _alive(in_group)
    if isinstance(inst, ProcessInstance) and inst.cgroup is not None:
        assert not _alive(children[1]), "the setsid grandchild escaped the cgroup kill"
    else:
        os.kill(children[1], signal.SIGKILL)  # without cgroups only the group is reachable


async def test_leftovers_die_when_main_exits(runtime: ProcessRuntime, tmp_path: Path) -> None:
    pidfile = tmp_path / "bg"
    info = await run(runtime, req(runtime, "sh", "-c", f"sleep 60 & echo $! > {pidfile}; exit 0"))
    assert info.exit_code == 0
    assert not _alive(int(_read(str(pidfile))))


async def test_missing_binary_is_start_error(runtime: ProcessRuntime) -> None:
    with pytest.raises(StartError) as e:
        await runtime.start(req(runtime, "/no/such"))
    assert 'exec: "/no/such": stat /no/such: no such file or directory' in e.value.message
    assert e.value.message.startswith("failed to create containerd task")
    with pytest.raises(StartError, match=r'exec: "nosuchcmd": executable file not found in \$PATH'):
        await runtime.start(req(runtime, "nosuchcmd"))
    assert runtime.live_instances() == []


async def test_bad_working_dir_is_start_error(runtime: ProcessRuntime) -> None:
    with pytest.raises(StartError, match=r'chdir to cwd \("/no/dir"\) set in config.json failed'):
        await runtime.start(req(runtime, "true", working_dir="/no/dir"))


async def test_not_executable_is_start_error(runtime: ProcessRuntime, tmp_path: Path) -> None:
    f = tmp_path / "script"
    f.write_text("#!/bin/sh\nexit 0\n")
    with pytest.raises(StartError, match=f'exec: "{f}": permission denied'):
        await runtime.start(req(runtime, str(f)))
    with pytest.raises(StartError, match="is a directory"):
        await runtime.start(req(runtime, str(tmp_path)))


async def test_env_exactly_passed(runtime: ProcessRuntime, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "A": "1", "my.dotted-name": "x y", "EMPTY": "", "PWD": "/p"}
    r = req(runtime, PY, "-c", "import os, json; print(json.dumps(dict(os.environ)))", env=env)
    info = await run(runtime, r)
    assert info.exit_code == 0
    import json

    got = json.loads(_read(r.log_path))
    got.pop("LC_CTYPE", None)  # Python's own C-locale coercion (PEP 538) adds it in-process
    assert got == env


async def test_working_dir_and_log_streams(runtime: ProcessRuntime, tmp_path: Path) -> None:
    r = req(
        runtime,
        "sh",
        "-c",
        "pwd; echo to-stderr >&2; echo to-stdout; read x; echo stdin-eof=$?",
        working_dir=str(tmp_path),
    )
    info = await run(runtime, r)
    assert info.exit_code == 0
    assert _read(r.log_path) == f"{tmp_path}\nto-stderr\nto-stdout\nstdin-eof=1\n"


async def test_termination_message(tmp_path: Path) -> None:
    p = tmp_path / "msg"
    assert read_termination_message("") is None
    assert read_termination_message(str(p)) is None
    p.write_bytes(b"a" * 5000 + b"END")
    msg = read_termination_message(str(p))
    assert msg is not None and len(msg) == 4096 and msg.endswith("END")


def test_preflight_resolves_in_container_path(tmp_path: Path) -> None:
    exe = tmp_path / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert preflight(("tool",), {"PATH": str(tmp_path)}, "") == str(exe)
    assert os.path.normpath(preflight(("./tool",), {}, str(tmp_path))) == str(exe)
    with pytest.raises(StartError, match="executable file not found"):
        preflight(("tool",), {"PATH": "/nonexistent"}, "")
    with pytest.raises(StartError, match="no command specified"):
        preflight((), {}, "")


async def test_shutdown_kills_everything(runtime: ProcessRuntime) -> None:
    insts = [await runtime.start(req(runtime, "sleep", "60")) for _ in range(3)]
    await asyncio.wait_for(runtime.shutdown(), 10)
    for i in insts:
        info = await i.wait()
        assert info.exit_code == 137 and not _alive(i.pid)
    assert runtime.live_instances() == []


async def test_stop_after_exit_is_harmless(runtime: ProcessRuntime) -> None:
    inst = await runtime.start(req(runtime, "true"))
    await asyncio.wait_for(inst.wait(), 10)
    await asyncio.wait_for(runtime.stop(inst, 1), 5)
    assert (await inst.wait()).sent_by_us is None
