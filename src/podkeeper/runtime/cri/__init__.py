"""The CRI runtime: pods from OCI images through the Kubernetes Container Runtime Interface.

`open_runtime(home, "containerd")` starts a private containerd for the home
(`containerd.py`) and returns the runtime and sandbox manager on it;
`open_runtime(home, "cri", endpoint)` connects to an existing CRI endpoint
(containerd, CRI-O). The generated CRI messages live in `_gen/`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from podkeeper.runtime.cri.client import CriClient, CriError
from podkeeper.runtime.cri.containerd import ManagedContainerd, home_tag, unavailable_reason
from podkeeper.runtime.cri.exits import CriInstance
from podkeeper.runtime.cri.runtime import CriRuntime
from podkeeper.runtime.cri.sandboxes import CriSandboxes, CriState
from podkeeper.runtime.interface import PodSandboxSpec

DEFAULT_CRI_ENDPOINT = "unix:///run/containerd/containerd.sock"

__all__ = [
    "DEFAULT_CRI_ENDPOINT",
    "CriClient",
    "CriError",
    "CriInstance",
    "CriRuntime",
    "CriSandboxes",
    "CriState",
    "ManagedContainerd",
    "PodSandboxSpec",
    "open_runtime",
    "unavailable_reason",
]


async def open_runtime(
    home: str | Path,
    kind: str,
    endpoint: str | None = None,
    describe: Callable[[str], PodSandboxSpec | None] | None = None,
) -> tuple[CriRuntime, CriSandboxes]:
    """The runtime and sandbox manager for `kind` "containerd" (managed) or "cri" (at
    `endpoint`). Raises RuntimeError saying why when the runtime cannot be reached."""
    home = str(home)
    if kind == "containerd":
        managed = ManagedContainerd(home)
        await managed.start()
        client = CriClient(managed.endpoint)
        state = CriState(client, home, managed.tag, cgroup_parent=managed.cgroup_parent)
        runtime = CriRuntime(
            state, name="containerd", events_address=str(managed.socket), owner=managed
        )
        return runtime, CriSandboxes(state, describe)
    if kind != "cri":
        raise ValueError(f"unknown CRI runtime kind {kind!r}")
    endpoint = endpoint or DEFAULT_CRI_ENDPOINT
    if "://" not in endpoint:
        endpoint = f"unix://{endpoint}"
    client = CriClient(endpoint)
    try:
        await client.version(timeout=10.0)
    except CriError as err:
        await client.close()
        raise RuntimeError(f"cannot reach the CRI endpoint {endpoint}: {err.details}") from None
    state = CriState(client, home, home_tag(home), cgroup_parent=f"/pkcri-{home_tag(home)}")
    address = endpoint.removeprefix("unix://")
    runtime = CriRuntime(state, name="cri", events_address=address)
    return runtime, CriSandboxes(state, describe)
