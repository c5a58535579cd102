"""Pod sandboxes through CRI RunPodSandbox (the kubelet's `kuberuntime_sandbox.go`).

A sandbox is the pause container holding the pod's network (CNI bridge +
host-local), IPC and UTS namespaces; its IP comes from PodSandboxStatus. It
carries the kubelet's labels (`io.kubernetes.pod.name`, `.namespace`, `.uid`)
plus `podkeeper.home` so an agent finds its own sandboxes and no other's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from podkeeper.runtime.cri._gen import api_pb2 as pb
from podkeeper.runtime.cri.client import CriClient, CriError
from podkeeper.runtime.cri.containerd import remove_cgroup_tree
from podkeeper.runtime.interface import PodSandboxSpec, SandboxError, SandboxInfo
from podkeeper.runtime.logs import pod_log_dir

log = logging.getLogger("podkeeper.cri")

# pkg/kubelet/types/labels.go
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"
HOME_LABEL = "podkeeper.home"
INSTANCE_LABEL = "podkeeper.instance"
SANDBOX_TIMEOUT = 120.0


@dataclass
class CriState:
    """What the sandbox manager and the runtime share: the client, this home's tag, and
    each live sandbox's config (CreateContainer sends it again, as the kubelet does)."""

    client: CriClient
    home: str
    tag: str
    cgroup_parent: str = ""  # "" lets the runtime choose
    configs: dict[str, Any] = field(default_factory=dict)  # sandbox id -> PodSandboxConfig
    log_dirs: dict[str, str] = field(default_factory=dict)  # sandbox id -> log directory


class CriSandboxes:
    """`SandboxManager` on a CRI runtime."""

    def __init__(
        self, state: CriState, describe: Callable[[str], PodSandboxSpec | None] | None = None
    ) -> None:
        self.state = state
        self._describe = describe or (lambda uid: None)
        self._attempts: dict[str, int] = {}

    def sandbox_config(
        self, pod_uid: str, pod_name: str, host_network: bool, spec: PodSandboxSpec
    ) -> Any:
        attempt = self._attempts.get(pod_uid, 0)
        log_dir = pod_log_dir(self.state.home, spec.namespace, pod_name, pod_uid)
        labels = dict(spec.labels)
        labels.update(
            {
                POD_NAME: pod_name,
                POD_NAMESPACE: spec.namespace,
                POD_UID: pod_uid,
                HOME_LABEL: self.state.tag,
            }
        )
        ns_opts = pb.NamespaceOption(
            network=pb.NODE if host_network else pb.POD,
            pid=pb.CONTAINER,
            ipc=pb.POD,
        )
        linux = pb.LinuxPodSandboxConfig(
            # kuberuntime_sandbox.go generatePodSandboxLinuxConfig: a sandbox holding a
            # privileged container is privileged itself (containerd checks it).
            security_context=pb.LinuxSandboxSecurityContext(
                namespace_options=ns_opts, privileged=spec.privileged
            ),
            # generatePodSandboxLinuxConfig: the runtime sets them in the sandbox's
            # namespaces, which the pod's containers share.
            sysctls=dict(spec.sysctls),
        )
        if self.state.cgroup_parent:
            linux.cgroup_parent = f"{self.state.cgroup_parent}/pod{pod_uid}"
        ports = [
            pb.PortMapping(
                protocol={"UDP": pb.UDP, "SCTP": pb.SCTP}.get(proto, pb.TCP),
                container_port=cport,
                host_port=hport,
                host_ip=hip,
            )
            for proto, cport, hport, hip in spec.port_mappings
        ]
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(
                name=pod_name, uid=pod_uid, namespace=spec.namespace, attempt=attempt
            ),
            hostname="" if host_network else (spec.hostname or pod_name)[:63],
            log_directory=log_dir,
            labels=labels,
            annotations=dict(spec.annotations),
            port_mappings=ports,
            linux=linux,
        )

    async def create(self, pod_uid: str, pod_name: str, host_network: bool) -> SandboxInfo:
        """The pod's sandbox: one this home already runs for the pod (kept for a pod a
        restarted agent takes over, as the kubelet finds it by its labels), else
        RunPodSandbox with the next attempt number; the pod IP from PodSandboxStatus."""
        spec = self._describe(pod_uid) or PodSandboxSpec()
        client = self.state.client
        existing = await self._of_pod(pod_uid)
        ready = [i for i in existing if i.state == pb.SANDBOX_READY]
        if existing:
            self._attempts[pod_uid] = max(i.metadata.attempt for i in existing) + (
                0 if ready else 1
            )
        config = self.sandbox_config(pod_uid, pod_name, host_network, spec)
        os.makedirs(config.log_directory, exist_ok=True)
        if ready:
            sandbox_id = str(ready[0].id)
        else:
            try:
                response = await client.call(
                    "RunPodSandbox", pb.RunPodSandboxRequest(config=config), SANDBOX_TIMEOUT
                )
            except CriError as err:
                # The kubelet's event quotes the gRPC error as Go prints it.
                code = "".join(p.capitalize() for p in err.code.split("_")) or "Unknown"
                raise SandboxError(
                    f"rpc error: code = {code} desc = {err.details}{_hint(err.details)}"
                ) from None
            self._attempts[pod_uid] = self._attempts.get(pod_uid, 0) + 1
            sandbox_id = str(response.pod_sandbox_id)
        self.state.configs[sandbox_id] = config
        self.state.log_dirs[sandbox_id] = config.log_directory
        status = (
            await client.call(
                "PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id)
            )
        ).status
        ip = status.network.ip if status.HasField("network") else ""
        ip = ip or "127.0.0.1"
        return SandboxInfo(
            pod_uid,
            ip=ip,
            hostname=config.hostname or None,
            pid_namespace=True,
            private_tmp=True,
            sandbox_id=sandbox_id,
        )

    async def _of_pod(self, pod_uid: str) -> list[Any]:
        request = pb.ListPodSandboxRequest(
            filter=pb.PodSandboxFilter(
                label_selector={HOME_LABEL: self.state.tag, POD_UID: pod_uid}
            )
        )
        return list((await self.state.client.call("ListPodSandbox", request)).items)

    async def destroy(self, sandbox: SandboxInfo) -> None:
        """StopPodSandbox (stops its containers, tears down the network) then RemovePodSandbox."""
        if sandbox.sandbox_id:
            await remove_sandbox(self.state.client, sandbox.sandbox_id)
            config = self.state.configs.pop(sandbox.sandbox_id, None)
            self.state.log_dirs.pop(sandbox.sandbox_id, None)
            if config is not None and config.linux.cgroup_parent:
                # runc removed the containers' cgroups; the pod's own is ours to remove.
                remove_cgroup_tree(config.linux.cgroup_parent, retries=5)

    async def list_own(self) -> list[Any]:
        """This home's sandboxes (by the `podkeeper.home` label)."""
        request = pb.ListPodSandboxRequest(
            filter=pb.PodSandboxFilter(label_selector={HOME_LABEL: self.state.tag})
        )
        return list((await self.state.client.call("ListPodSandbox", request)).items)

    async def cleanup_stale(self, keep: frozenset[str]) -> list[str]:
        """Stop and remove sandboxes of this home whose pod uid is not in `keep`."""
        gone = []
        for item in await self.list_own():
            uid = item.metadata.uid
            if uid in keep:
                continue
            await remove_sandbox(self.state.client, item.id)
            gone.append(
                f"removed pod sandbox {item.id[:13]} of pod {item.metadata.namespace}/"
                f"{item.metadata.name} (uid {uid}) left by a previous agent"
            )
        return gone


async def remove_sandbox(client: CriClient, sandbox_id: str) -> None:
    for method, request in (
        ("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id)),
        ("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id)),
    ):
        try:
            await client.call(method, request, SANDBOX_TIMEOUT)
        except CriError as err:
            if err.code != "NOT_FOUND":
                log.warning("%s %s: %s", method, sandbox_id[:13], err)


def _hint(details: str) -> str:
    """What to change on hosts that need other settings (issue 10's measured failures)."""
    if "final child's PID from pipe" in details:
        return " (set restrict_oom_score_adj = true in the CRI plugin config)"
    if "apparmor" in details.lower():
        return " (set disable_apparmor = true in the CRI plugin config)"
    if "failed to get sandbox image" in details or "pause" in details:
        return (
            " (import the sandbox image: podkeeper image import pause.tar, or set"
            " PODKEEPER_SANDBOX_IMAGE to an image already present)"
        )
    if "cni" in details.lower():
        return (
            " (check the CNI plugins in /usr/lib/cni: apt-get install containernetworking-plugins)"
        )
    return ""
