"""hostPort: which pod ports the node maps, and which pods' ports collide, pure.

The kubelet hands `containers[].ports[].hostPort` to the runtime as the sandbox's
PortMappings (pkg/kubelet/kuberuntime/kuberuntime_sandbox.go generatePodSandboxConfig:
every container's ports with a hostPort, init containers included); containerd gives
them to the CNI portmap plugin, which DNATs hostIP:hostPort (any address when hostIP is
empty, loopback included) to the pod IP. Two pods on one node may not ask for the same
(hostIP, protocol, hostPort): the scheduler's NodePorts filter
(pkg/scheduler/framework/plugins/nodeports) refuses the second; an empty hostIP or
0.0.0.0 collides with every address.
"""

from __future__ import annotations

from collections.abc import Iterable

from podkeeper.core.spec import Pod

#: (protocol, containerPort, hostPort, hostIP) as PodSandboxSpec.port_mappings takes them.
PortMapping = tuple[str, int, int, str]

#: The scheduler's FailedScheduling message on a one-node cluster
#: (nodeports.ErrReason "node(s) didn't have free ports for the requested pod ports").
NO_FREE_PORTS = (
    "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
)


def host_port_mappings(pod: Pod) -> tuple[PortMapping, ...]:
    out: list[PortMapping] = []
    for c in (*pod.spec.init_containers, *pod.spec.containers):
        for p in c.ports:
            if p.host_port > 0:
                out.append((p.protocol or "TCP", p.container_port, p.host_port, p.host_ip))
    return tuple(out)


def _collide(a: PortMapping, b: PortMapping) -> bool:
    if a[0] != b[0] or a[2] != b[2]:
        return False
    wild = ("", "0.0.0.0")
    return a[3] in wild or b[3] in wild or a[3] == b[3]


def conflicting_ports(pod: Pod, others: Iterable[Pod]) -> list[PortMapping]:
    """The host ports of `pod` that a pod of `others` already holds (NodePorts Filter)."""
    held = [m for o in others for m in host_port_mappings(o)]
    return [m for m in host_port_mappings(pod) if any(_collide(m, h) for h in held)]
