"""The CRI runtime on a real containerd: images' ENTRYPOINT/CMD, env, networking, OOM, logs."""

from __future__ import annotations

import asyncio
import ipaddress
import time
import urllib.request

import pytest

from podkeeper.core.result import Result
from podkeeper.core.spec import Resources
from podkeeper.runtime.cri.crilog import decode_cri_log, parse_cri_line
from podkeeper.runtime.cri.testimages import HTTPD_IMAGE, LIVENESS_IMAGE
from podkeeper.runtime.interface import ConfigError, StartError

from .conftest import CriKit

pytestmark = pytest.mark.root


def _http(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


async def _until(fn, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            return await asyncio.to_thread(fn)
        except OSError as err:
            last = err
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reachable within {timeout}s: {last}")


async def test_sandbox_gets_an_ip_on_the_bridge_reachable_from_the_host(cri: CriKit) -> None:
    sandbox = await cri.sandbox("web")
    assert sandbox.sandbox_id
    assert ipaddress.ip_address(sandbox.ip) in cri.managed.subnet
    inst = await cri.runtime.start(cri.request(sandbox, "httpd", image=HTTPD_IMAGE))
    status, body = await _until(lambda: _http(f"http://{sandbox.ip}:80/"))
    assert status == 200 and b"podkeeper httpd" in body
    await cri.runtime.stop(inst, 5)
    info = await inst.wait()
    # The image's entrypoint ends on SIGTERM with 0, as nginx does.
    assert (info.exit_code, info.sent_by_us) == (0, "SIGTERM")


async def test_command_overrides_entrypoint_args_override_cmd(cri: CriKit) -> None:
    sandbox = await cri.sandbox()
    # No command, no args: the image's CMD (`sh`) with no stdin exits 0 at once.
    default = await cri.runtime.start(cri.request(sandbox, "default"))
    assert (await asyncio.wait_for(default.wait(), 30)).exit_code == 0
    # args only, with an ENTRYPOINT-less image: args become the command line.
    req = cri.request(
        sandbox,
        "args",
        args=("sh", "-c", "echo $GREETING from $(pwd); exit 4"),
        env={"GREETING": "hi"},
        working_dir="/tmp",
    )
    inst = await cri.runtime.start(req)
    assert (await asyncio.wait_for(inst.wait(), 30)).exit_code == 4
    # With terminationMessagePolicy File the exit comes before the log's last lines are
    # drained (at most EVENT_LOG_SETTLE later, exits.py), as kubelet status and logs race.
    text = b""
    for _ in range(100):
        with open(req.log_path, "rb") as f:
            text = f.read()
        if text:
            break
        await asyncio.sleep(0.02)
    assert text == b"hi from /tmp\n"


async def test_liveness_image_serves_200_then_500(cri: CriKit) -> None:
    sandbox = await cri.sandbox()
    inst = await cri.runtime.start(cri.request(sandbox, "liveness", image=LIVENESS_IMAGE))
    status, body = await _until(lambda: _http(f"http://{sandbox.ip}:8080/healthz"))
    assert (status, body) == (200, b"ok")
    await asyncio.sleep(11.5)
    status, body = _http(f"http://{sandbox.ip}:8080/healthz")
    assert status == 500 and body.startswith(b"error: ")
    await cri.runtime.stop(inst, 10)
    # A Go server dies of SIGTERM: 128 + 15.
    assert (await inst.wait()).exit_code == 143


async def test_missing_binary_is_a_start_error(cri: CriKit) -> None:
    sandbox = await cri.sandbox()
    with pytest.raises(StartError) as err:
        await cri.runtime.start(cri.request(sandbox, "nope", command=("/no/such/binary",)))
    assert "no such file or directory" in err.value.message


async def test_no_sandbox_is_a_config_error(cri: CriKit) -> None:
    sandbox = await cri.sandbox()
    req = cri.request(sandbox, "x", command=("true",))
    from dataclasses import replace

    with pytest.raises(ConfigError):
        await cri.runtime.start(replace(req, sandbox=None))


async def test_memory_limit_oom_kill_is_reported(cri: CriKit) -> None:
    sandbox = await cri.sandbox()
    req = cri.request(
        sandbox,
        "hog",
        command=("sh", "-c", "tail /dev/zero"),
        resources=Resources(limits_memory=16 * 1024 * 1024),
    )
    inst = await cri.runtime.start(req)
    info = await asyncio.wait_for(inst.wait(), 60)
    assert info.exit_code == 137
    assert info.oom_killed
    assert info.memory_limit == 16 * 1024 * 1024
    # Evidence from the container's cgroup, read at the exit event (before runc removes it).
    assert info.memory_peak is not None and info.memory_peak > 8 * 1024 * 1024, info
    assert info.oom_kills_in_instance >= 1, info


async def test_exec_of_missing_binary_is_the_probers_error(cri: CriKit) -> None:
    sandbox = await cri.sandbox()
    inst = await cri.runtime.start(cri.request(sandbox, "s", command=("sleep", "60")))
    out = await cri.runtime.exec_sync(inst, ["/nope"], 5)
    # exec.go: an error that is not an exit status is Unknown + the error ("probe errored").
    assert out.result is Result.UNKNOWN
    assert out.error and out.error.startswith("rpc error: code = Unknown desc = ")
    await cri.runtime.stop(inst, 0)
    assert (await inst.wait()).exit_code == 137


def test_cri_log_lines_are_decoded_and_partials_joined() -> None:
    rec = parse_cri_line(b"2016-10-06T00:17:09.669794202Z stderr F error: boom")
    assert rec is not None and rec.stream == "stderr" and rec.content == b"error: boom"
    assert parse_cri_line(b"not a cri line") is None
    data = (
        b"2016-10-06T00:17:09.669794202Z stdout P hel\n"
        b"2016-10-06T00:17:09.669794203Z stdout F lo\n"
        b"2016-10-06T00:17:09.669794204Z stderr F \n"
        b"2016-10-06T00:17:09.669794205Z stdout F incompl"
    )
    text, used = decode_cri_log(data)
    assert text == b"hello\n\n"
    assert data[used:].startswith(b"2016-10-06T00:17:09.669794205Z stdout F incompl")


async def test_cri_log_is_rotated_and_everything_reaches_the_plain_log(cri: CriKit) -> None:
    import os

    cri.runtime.log_max_size = 256 * 1024
    sandbox = await cri.sandbox()
    # 3 MB of "hello" lines, then a marker, then it keeps running.
    script = "yes hello | head -c 3000000; echo; echo done; sleep 600"
    req = cri.request(sandbox, "chatty", command=("sh", "-c", script))
    inst = await cri.runtime.start(req)
    deadline = time.monotonic() + 90  # 3 MB through containerd's log writer on a busy host
    while time.monotonic() < deadline:
        with open(req.log_path, "rb") as f:
            if f.read().endswith(b"done\n"):
                break
        await asyncio.sleep(0.2)
    with open(req.log_path, "rb") as f:
        text = f.read()
    assert text.endswith(b"\ndone\n"), (len(text), text[-80:])
    assert text.count(b"hello\n") == 3000000 // 6, len(text)
    pump = inst.log_pump  # type: ignore[attr-defined]
    for _ in range(50):  # the rotation follows the copy that brought "done"
        if pump.rotations >= 1:
            break
        await asyncio.sleep(0.1)
    assert pump.rotations >= 1
    cri_log = inst.log_pump.cri_path  # type: ignore[attr-defined]
    assert os.path.getsize(cri_log) < 3000000
    for _ in range(50):  # a rotation may be under way
        if not os.path.exists(cri_log + ".1"):
            break
        await asyncio.sleep(0.1)
    assert not os.path.exists(cri_log + ".1")
    await cri.runtime.stop(inst, 0)


async def test_security_context_reaches_the_container(cri: CriKit) -> None:
    from podkeeper.core.spec import SecurityContext

    sandbox = await cri.sandbox()
    sec = SecurityContext(
        run_as_user=1000,
        run_as_group=3000,
        supplemental_groups=(4000,),
        read_only_root_filesystem=True,
        capabilities_drop=("ALL",),
        allow_privilege_escalation=False,
    )
    script = (
        "id -u; id -g; id -G; touch /made 2>/dev/null || echo read-only; "
        "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"
    )
    req = cri.request(sandbox, "sec", command=("sh", "-c", script), security=sec)
    inst = await cri.runtime.start(req)
    assert (await asyncio.wait_for(inst.wait(), 30)).exit_code == 0

    def six_lines() -> list[str]:
        # The plain log is copied from the CRI log by a follower that can be a moment
        # behind the exit on a busy machine: wait for all six lines, not the first read.
        with open(req.log_path) as f:
            got = f.read().split("\n")
        if len(got) < 6:
            raise OSError(f"{len(got)} lines so far: {got}")
        return got

    lines = await _until(six_lines)
    assert lines[0] == "1000" and lines[1] == "3000"
    assert "4000" in lines[2].split()
    assert lines[3] == "read-only"
    assert lines[4].split() == ["CapEff:", "0000000000000000"]
    assert lines[5].split() == ["NoNewPrivs:", "1"]


async def test_host_network_pod_shares_the_hosts_network(cri: CriKit) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sandbox = await cri.sandbox(host_network=True)
    assert sandbox.ip == "127.0.0.1"
    inst = await cri.runtime.start(
        cri.request(sandbox, "srv", command=("nc", "-ll", "-p", str(port), "-e", "echo", "hi"))
    )

    def hello() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
            return c.recv(16)

    assert await _until(hello) == b"hi\n"
    await cri.runtime.stop(inst, 0)


async def test_usage_reports_the_working_set_and_the_logs(cri: CriKit) -> None:
    sandbox = await cri.sandbox()
    # ~8 MB in the pod's shared memory (tmpfs pages are charged to the writer's cgroup).
    script = "head -c 8000000 /dev/zero > /dev/shm/fill; echo ready; sleep 600"
    req = cri.request(sandbox, "user", command=("sh", "-c", script))
    inst = await cri.runtime.start(req)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with open(req.log_path, "rb") as f:
            if b"ready" in f.read():
                break
        await asyncio.sleep(0.1)
    used = cri.runtime.usage(inst)
    assert used["memory"] > 6_000_000, used
    assert used["ephemeral-storage"] >= len("ready\n"), used
    await cri.runtime.stop(inst, 0)
