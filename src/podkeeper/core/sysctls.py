"""Pod sysctls (`spec.securityContext.sysctls`): validation, node admission, names. Pure.

- API validation (pkg/apis/core/validation/validation.go `validateSysctls`): a name
  must match `SysctlContainSlashFmt` within 253 characters and appear once.
- Node admission (pkg/kubelet/sysctl/allowlist.go `patternAllowlist.Admit`): only the
  kubelet's safe sysctls (pkg/kubelet/sysctl/safe_sysctls.go, the 1.33 list; no
  `--allowed-unsafe-sysctls` here) are admitted, and not in a namespace the pod shares
  with the host; otherwise the pod is rejected, reason `SysctlForbidden`, message
  `forbidden sysctl: "<name>" not allowlisted`.
- Names may use `/` as separator (`kernel/shm_rmid_forced`); the runtime gets the dotted
  form (k8s.io/component-helpers/node/util/sysctl `ConvertSysctlVariableToDotsSeparator`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

SYSCTL_MAX_LENGTH = 253
_SEGMENT = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
#: validation.go SysctlContainSlashFmt, as its error message quotes it.
SYSCTL_FMT = f"({_SEGMENT}[\\./])*{_SEGMENT}"
_SYSCTL = re.compile(f"^{SYSCTL_FMT}$")

FORBIDDEN_REASON = "SysctlForbidden"
IPC, NET = "ipc", "net"

#: safe_sysctls.go: the sysctls namespaced per pod and without effect on other pods.
SAFE_SYSCTLS: dict[str, str] = {
    "kernel.shm_rmid_forced": IPC,
    "net.ipv4.ip_local_port_range": NET,
    "net.ipv4.tcp_syncookies": NET,
    "net.ipv4.ping_group_range": NET,
    "net.ipv4.ip_unprivileged_port_start": NET,
    "net.ipv4.ip_local_reserved_ports": NET,
    "net.ipv4.tcp_keepalive_time": NET,
    "net.ipv4.tcp_fin_timeout": NET,
    "net.ipv4.tcp_keepalive_intvl": NET,
    "net.ipv4.tcp_keepalive_probes": NET,
}


def dotted(name: str) -> str:
    """`ConvertSysctlVariableToDotsSeparator`: when the first separator is `/`, swap every
    `/` and `.` (`net/ipv4/conf/eno2.100/rp_filter` -> `net.ipv4.conf.eno2/100.rp_filter`)."""
    first = re.search(r"[./]", name)
    if first is None or first.group() == ".":
        return name
    return name.translate(str.maketrans("./", "/."))


def invalid_name(name: str) -> str | None:
    """validateSysctls' message for a name that may not be used, else None."""
    if len(name) > SYSCTL_MAX_LENGTH or not _SYSCTL.match(name):
        return f"must have at most {SYSCTL_MAX_LENGTH} characters and match regex {SYSCTL_FMT}"
    return None


def forbidden(
    sysctls: Sequence[tuple[str, str]], host_network: bool, host_ipc: bool = False
) -> str | None:
    """The admission message of the first sysctl the node refuses, else None."""
    for name, _ in sysctls:
        name = dotted(name)
        ns = SAFE_SYSCTLS.get(name)
        if ns is None:
            return f'forbidden sysctl: "{name}" not allowlisted'
        if (ns == IPC and host_ipc) or (ns == NET and host_network):
            return f'forbidden sysctl: "{name}" not allowed with host {ns} enabled'
    return None
