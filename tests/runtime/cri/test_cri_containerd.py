"""The agent's private containerd: its config, its socket path, and that stopping it
leaves nothing behind (no containerd, shim, container process, netns, bridge, cgroup)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from podkeeper.runtime.cri import open_runtime
from podkeeper.runtime.cri.containerd import ManagedContainerd
from podkeeper.runtime.cri.testimages import BUSYBOX_IMAGE
from podkeeper.runtime.interface import StartRequest
from podkeeper.runtime.logs import container_log_path

from .conftest import cri_skip_reason, import_image

pytestmark = pytest.mark.root


def test_socket_falls_back_to_run_when_the_home_path_is_too_long() -> None:
    # Paths only: nothing is created, so a short base outside pytest's (deep) tmp works.
    base = Path("/tmp/pk-sock")
    short = ManagedContainerd(base / "h")
    assert short.socket == base / "h" / "containerd" / "containerd.sock"
    long_home = base / ("x" * 90)
    m = ManagedContainerd(long_home)
    assert str(m.socket).startswith("/run/podkeeper-cri-")
    assert len(str(m.socket)) + len(".ttrpc") <= 104
    assert m.socket != ManagedContainerd(base / ("y" * 90)).socket


def test_socket_falls_back_below_containerds_own_limit() -> None:
    # A ttrpc path of 105-107 bytes fits sun_path but containerd refuses it ("unix socket
    # path too long (> 104)"): seen with pytest-xdist's deeper temporary directories.
    suffix = len("/containerd/containerd.sock.ttrpc")
    base = "/tmp/pk-sock/"
    for total, falls_back in ((104, False), (105, True), (106, True)):
        home = base + "z" * (total - suffix - len(base))
        assert len(home) + suffix == total
        sock = str(ManagedContainerd(Path(home)).socket)
        assert sock.startswith("/run/podkeeper-cri-") == falls_back, (total, sock)


def test_config_has_the_settings_this_host_needs(tmp_path: Path) -> None:
    text = ManagedContainerd(tmp_path).config_text()
    for line in (
        "restrict_oom_score_adj = true",
        "disable_apparmor = true",
        "SystemdCgroup = false",
        f'Root = "{tmp_path}/containerd/runc"',
    ):
        assert line in text


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None  # another test's namespace, removed meanwhile


def _netns() -> set[str]:
    """containerd's CNI namespaces (`cni-<uuid>`); other agents' `pk-*` ones come and go."""
    try:
        return {n for n in os.listdir("/run/netns") if n.startswith("cni-")}
    except OSError:
        return set()


async def test_stop_leaves_nothing_behind(
    tmp_path_factory: pytest.TempPathFactory, test_images: dict[str, Path]
) -> None:
    why = cri_skip_reason()
    if why:
        pytest.skip(why)
    # A home long enough to need the /run socket fallback.
    home = tmp_path_factory.mktemp("cleanup") / ("long-home-" + "z" * 70)
    home.mkdir()
    netns_before = _netns()
    runtime, sandboxes = await open_runtime(home, "containerd")
    managed = runtime._owner
    assert isinstance(managed, ManagedContainerd)
    import_image(managed, test_images[BUSYBOX_IMAGE])
    for name in ("registry.k8s.io/pause:3.10",):
        import_image(managed, test_images[name])
    uid = str(uuid.uuid4())
    sandbox = await sandboxes.create(uid, "leftover", False)
    inst = await runtime.start(
        StartRequest(
            pod_name="leftover",
            namespace="default",
            pod_uid=uid,
            container_name="c",
            instance_id="i1",
            argv=(),
            env={},
            working_dir="",
            log_path=container_log_path(str(home), "default", "leftover", uid, "c", 0),
            sandbox=sandbox,
            image=BUSYBOX_IMAGE,
            command=("sleep", "300"),
        )
    )
    assert inst.pid > 0 and os.path.exists(f"/proc/{inst.pid}")
    assert managed.shim_pids()
    assert os.path.exists(f"/sys/class/net/{managed.bridge}")
    # This sandbox's namespace, by the container's: other tests' come and go meanwhile.
    ino = os.stat(f"/proc/{inst.pid}/ns/net").st_ino
    mine = {n for n in _netns() - netns_before if _inode(f"/run/netns/{n}") == ino}
    assert mine, "the sandbox has a network namespace"
    containerd_pid = managed.pid
    # The agent going away without deleting its pods: shutdown removes everything.
    await runtime.shutdown()
    assert containerd_pid is not None and not os.path.exists(f"/proc/{containerd_pid}")
    assert not os.path.exists(f"/proc/{inst.pid}")
    assert managed.shim_pids() == []
    assert not os.path.exists(f"/sys/class/net/{managed.bridge}")
    assert mine & _netns() == set()
    assert not managed._cgroup_dirs()
    assert not managed.socket.exists() and not managed.socket.parent.exists()
