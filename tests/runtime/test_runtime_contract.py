"""The same contract (podkeeper.runtime.contract) against every container runtime here.

The CRI runtime's run lives with its tests (it needs containerd); the process runtime
runs both on the host and, as root, inside a pod sandbox (PID 1 of its own namespace)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from podkeeper.runtime.cgroups import CgroupManager, root_name_for_home
from podkeeper.runtime.contract import (
    RequestFactory,
    check_container_mounts,
    check_container_runtime,
)
from podkeeper.runtime.fake import FakeContainerRuntime
from podkeeper.runtime.interface import SandboxInfo, StartRequest
from podkeeper.runtime.process import ProcessRuntime
from podkeeper.runtime.process import sandbox as sb
from podkeeper.testing import cgroup_skip_reason

SH = shutil.which("sh") or "/bin/sh"


def factory(home: Path, sandbox: SandboxInfo | None = None) -> RequestFactory:
    def request(name: str, script: str, env: dict[str, str]) -> StartRequest:
        iid = f"{name}-{uuid.uuid4().hex[:8]}"
        argv = (SH, "-c", script)
        return StartRequest(
            pod_name="contract",
            namespace="default",
            pod_uid="contract-uid",
            container_name=name,
            instance_id=iid,
            argv=argv,
            command=argv,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", **env},
            working_dir="",
            log_path=str(home / "logs" / f"{iid}.log"),
            sandbox=sandbox,
        )

    return request


async def test_fake_runtime_keeps_the_contract(tmp_path: Path) -> None:
    await check_container_runtime(FakeContainerRuntime(), factory(tmp_path))


async def test_process_runtime_keeps_the_contract(tmp_path: Path) -> None:
    await check_container_runtime(ProcessRuntime(str(tmp_path)), factory(tmp_path))


@pytest.mark.skipif(bool(cgroup_skip_reason()), reason=cgroup_skip_reason() or "n/a")
@pytest.mark.skipif(sb.unavailable_reason() is not None, reason=sb.unavailable_reason() or "")
async def test_process_runtime_in_a_sandbox_keeps_the_contract(tmp_path: Path) -> None:
    cgroups = CgroupManager(root_name_for_home(str(tmp_path)))
    box = SandboxInfo("contract-uid", pid_namespace=True, private_tmp=True)
    try:
        await check_container_runtime(
            ProcessRuntime(str(tmp_path), cgroups), factory(tmp_path, box)
        )
    finally:
        cgroups.cleanup_stale()
        assert cgroups.remove_root(timeout=5.0)


def _volume(tmp_path: Path) -> str:
    d = tmp_path / "volume"
    d.mkdir()
    (d / "in").write_text("volume-in\n")
    return str(d)


async def test_fake_runtime_keeps_the_mount_contract(tmp_path: Path) -> None:
    await check_container_mounts(FakeContainerRuntime(), factory(tmp_path), _volume(tmp_path))


@pytest.mark.skipif(bool(cgroup_skip_reason()), reason=cgroup_skip_reason() or "n/a")
@pytest.mark.skipif(sb.unavailable_reason() is not None, reason=sb.unavailable_reason() or "")
async def test_process_runtime_in_a_sandbox_keeps_the_mount_contract(tmp_path: Path) -> None:
    cgroups = CgroupManager(root_name_for_home(str(tmp_path)))
    box = SandboxInfo("contract-uid", pid_namespace=True, private_tmp=True)
    try:
        await check_container_mounts(
            ProcessRuntime(str(tmp_path), cgroups), factory(tmp_path, box), _volume(tmp_path)
        )
    finally:
        cgroups.cleanup_stale()
        assert cgroups.remove_root(timeout=5.0)
