"""What the CRI runtime sends, without a containerd: the sandbox's privileged flag
(`generatePodSandboxLinuxConfig`) and the managed /etc/hosts mount (`makeHostsMount`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from podkeeper.runtime.cri.runtime import CriRuntime
from podkeeper.runtime.cri.sandboxes import CriSandboxes, CriState, PodSandboxSpec
from podkeeper.runtime.interface import Mount, StartRequest


def _state(tmp_path: Path) -> CriState:
    client: Any = None  # neither config builder calls the runtime
    return CriState(client=client, home=str(tmp_path), tag="t")


def test_sandbox_privileged_follows_the_spec(tmp_path: Path) -> None:
    boxes = CriSandboxes(_state(tmp_path))
    plain = boxes.sandbox_config("uid", "p", False, PodSandboxSpec())
    assert not plain.linux.security_context.privileged
    priv = boxes.sandbox_config("uid", "p", False, PodSandboxSpec(privileged=True))
    assert priv.linux.security_context.privileged


def _request(tmp_path: Path, **kw: Any) -> StartRequest:
    return StartRequest(
        pod_name="p",
        namespace="default",
        pod_uid="uid",
        container_name="c",
        instance_id="i",
        argv=(),
        env={},
        working_dir="",
        log_path=str(tmp_path / "c.log"),
        **kw,
    )


def test_hosts_file_is_mounted_read_write_at_etc_hosts(tmp_path: Path) -> None:
    rt = CriRuntime(_state(tmp_path))
    hosts = str(tmp_path / "etc-hosts")
    cfg = rt.container_config(
        _request(tmp_path, hosts_file=hosts, mounts=(Mount("/data", "/v"),)), "sb", "img"
    )
    by_path = {m.container_path: m for m in cfg.mounts}
    assert by_path["/etc/hosts"].host_path == hosts
    assert not by_path["/etc/hosts"].readonly and by_path["/etc/hosts"].selinux_relabel
    # Without a file (the container mounts /etc/hosts itself) there is no such mount.
    cfg = rt.container_config(_request(tmp_path), "sb", "img")
    assert all(m.container_path != "/etc/hosts" for m in cfg.mounts)
