"""The CRI container config from a `StartRequest`, as the kubelet builds it
(`pkg/kubelet/kuberuntime/kuberuntime_container_linux.go`, `security_context.go`)."""

from __future__ import annotations

import os
from typing import Any

from podkeeper.core.spec import Resources, SecurityContext
from podkeeper.runtime.cri._gen import api_pb2 as pb

CPU_PERIOD_US = 100_000
# The variables podkeeper's agent gives a host process "image"; an image brings its own.
_HOST_ENV = ("PATH", "HOME", "HOSTNAME", "LANG", "LC_ALL", "TZ")


def linux_resources(res: Resources) -> Any:
    """`pkg/kubelet/kuberuntime/kuberuntime_container_linux.go` calculateLinuxResources."""
    out = pb.LinuxContainerResources()
    cpu_request = res.requests_cpu_milli
    if cpu_request is None and res.limits_cpu_milli is not None:
        cpu_request = res.limits_cpu_milli  # defaulting: request = limit
    out.cpu_shares = max(2, (cpu_request or 0) * 1024 // 1000) if cpu_request else 2
    if res.limits_cpu_milli is not None:
        out.cpu_period = CPU_PERIOD_US
        out.cpu_quota = max(res.limits_cpu_milli * CPU_PERIOD_US // 1000, 1000)
    if res.limits_memory is not None:
        out.memory_limit_in_bytes = res.limits_memory
    out.oom_score_adj = _oom_score_adj(res)
    return out


def _oom_score_adj(res: Resources) -> int:
    """`pkg/kubelet/qos/policy.go` GetContainerOOMScoreAdjust (containers, not the sandbox)."""
    guaranteed = (
        res.limits_memory is not None
        and res.limits_cpu_milli is not None
        and (res.requests_memory in (None, res.limits_memory))
        and (res.requests_cpu_milli in (None, res.limits_cpu_milli))
    )
    if guaranteed:
        return -997
    request = res.requests_memory if res.requests_memory is not None else res.limits_memory
    if request is None and res.requests_cpu_milli is None and res.limits_cpu_milli is None:
        return 1000  # BestEffort
    capacity = _mem_total()
    adj = 1000 - (1000 * (request or 0)) // capacity if capacity else 999
    return int(min(max(adj, 3), 999))


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def security_context(sec: SecurityContext) -> Any:
    """`pkg/kubelet/kuberuntime/security_context.go` convertToRuntimeSecurityContext."""
    out = pb.LinuxContainerSecurityContext(
        capabilities=pb.Capability(
            add_capabilities=list(sec.capabilities_add),
            drop_capabilities=list(sec.capabilities_drop),
        ),
        privileged=bool(sec.privileged),
        readonly_rootfs=bool(sec.read_only_root_filesystem),
        supplemental_groups=list(sec.supplemental_groups)
        + ([sec.fs_group] if sec.fs_group is not None else []),
        no_new_privs=sec.allow_privilege_escalation is False and not sec.privileged,
        namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD),
    )
    if sec.run_as_user is not None:
        out.run_as_user.value = sec.run_as_user
    if sec.run_as_group is not None:
        out.run_as_group.value = sec.run_as_group
    return out


def cri_env(env: dict[str, str]) -> list[Any]:
    """The container's own variables: the host "image" ones the agent adds for the process
    runtime are dropped where they equal the agent's (the image supplies its own)."""
    out = []
    for k, v in env.items():
        if k in _HOST_ENV and (os.environ.get(k) == v or k in ("HOME", "HOSTNAME")):
            continue
        out.append(pb.KeyValue(key=k, value=v.encode()))
    return out


def cri_log_path(plain: str) -> str:
    base = plain[:-4] if plain.endswith(".log") else plain
    return base + ".cri.log"
