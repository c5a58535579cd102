"""The process runtime: pods as host processes, in cgroups and Linux namespaces.

`ProcessRuntime` (`runtime.py`) runs each container as a local process group in its
own cgroup; `sandbox.py` gives pods network, PID, UTS and mount namespaces (what a
CRI runtime's RunPodSandbox gives); `monitor.py` builds `pkmon.c`, the per-container
monitor that lets containers outlive the agent; `privileges.py` applies a container's
securityContext. Shared runtime infrastructure (cgroups.py, mounts.py, logs.py) stays
in `runtime/`.
"""

from __future__ import annotations

from podkeeper.runtime.process.runtime import ProcessInstance, ProcessRuntime, preflight

__all__ = ["ProcessInstance", "ProcessRuntime", "preflight"]
