"""A real, private containerd for the CRI tests, with the busybox test images imported.

One containerd per test session (about 0.1 s to start, plus ~1 s to build and import
the images); every test gets its own client, runtime and sandboxes and removes what it
made. Without root, containerd, runc, the CNI plugins, busybox-static or gcc the tests
skip, saying which is missing. After the session nothing is left: no containerd, shim,
netns, bridge or cgroup (checked by `test_cri_containerd.py`)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from podkeeper.runtime.cri import CriClient, CriRuntime, CriSandboxes, CriState
from podkeeper.runtime.cri.containerd import ManagedContainerd, unavailable_reason
from podkeeper.runtime.cri.testimages import BUSYBOX_IMAGE, build_all, busybox_available
from podkeeper.runtime.interface import SandboxInfo, StartRequest
from podkeeper.runtime.logs import container_log_path


def cri_skip_reason() -> str | None:
    return unavailable_reason() or busybox_available()


def import_image(managed: ManagedContainerd, tarball: Path) -> None:
    subprocess.run(
        ["ctr", "-a", str(managed.socket), "-n", "k8s.io", "images", "import", str(tarball)],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="session")
def test_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    why = cri_skip_reason()
    if why:
        pytest.skip(why)
    try:
        return build_all(tmp_path_factory.mktemp("images"))
    except RuntimeError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="session")
def containerd(
    tmp_path_factory: pytest.TempPathFactory, test_images: dict[str, Path]
) -> Iterator[ManagedContainerd]:
    home = tmp_path_factory.mktemp("crihome")
    managed = ManagedContainerd(home)
    asyncio.run(managed.start())
    try:
        for tarball in test_images.values():
            import_image(managed, tarball)
        yield managed
    finally:
        asyncio.run(managed.stop())


@dataclass
class CriKit:
    managed: ManagedContainerd
    state: CriState
    runtime: CriRuntime
    sandboxes: CriSandboxes
    made: list[SandboxInfo]

    async def sandbox(self, name: str = "", host_network: bool = False) -> SandboxInfo:
        uid = str(uuid.uuid4())
        sb = await self.sandboxes.create(uid, name or f"pod-{uid[:8]}", host_network)
        self.made.append(sb)
        return sb

    def request(
        self,
        sandbox: SandboxInfo,
        name: str,
        command: Sequence[str] = (),
        args: Sequence[str] = (),
        image: str = BUSYBOX_IMAGE,
        **kw: object,
    ) -> StartRequest:
        return StartRequest(
            pod_name=f"pod-{sandbox.pod_uid[:8]}",
            namespace="default",
            pod_uid=sandbox.pod_uid,
            container_name=name,
            instance_id=f"{sandbox.pod_uid}/{name}/{uuid.uuid4().hex[:6]}",
            argv=tuple(command) + tuple(args),
            env=dict(kw.pop("env", {}) or {}),  # type: ignore[call-overload]
            working_dir=str(kw.pop("working_dir", "")),
            log_path=container_log_path(
                self.state.home, "default", f"pod-{sandbox.pod_uid[:8]}", sandbox.pod_uid, name, 0
            ),
            sandbox=sandbox,
            image=image,
            command=tuple(command),
            args=tuple(args),
            **kw,  # type: ignore[arg-type]
        )


@pytest.fixture
async def cri(containerd: ManagedContainerd) -> AsyncIterator[CriKit]:
    client = CriClient(containerd.endpoint)
    state = CriState(client, containerd.home, containerd.tag, containerd.cgroup_parent)
    runtime = CriRuntime(state, name="containerd", events_address=str(containerd.socket))
    kit = CriKit(containerd, state, runtime, CriSandboxes(state), [])
    try:
        yield kit
    finally:
        for sb in kit.made:
            await kit.sandboxes.destroy(sb)
        await runtime.shutdown()  # no owner: the session's containerd keeps running
