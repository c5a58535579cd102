"""The runtime interface: what the agent asks of a container runtime (the kubelet's CRI role).

The pod worker decides *what* (from the core) and calls these; a runtime only
carries it out. `ProcessRuntime` (runtime/process.py) is the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from podkeeper.core.spec import Resources


class StartError(Exception):
    """The container could not start (missing binary, bad workingDir, ...).

    The status becomes terminated/StartError with exit code 128 and `message`
    (containerd `internal/cri/server/helpers.go`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class StartRequest:
    """Everything needed to start one container instance.

    `instance_id` is unique per (pod, container, restart); `argv` and `env`
    are final (`$(VAR)` already expanded by the caller)."""

    pod_name: str
    namespace: str
    pod_uid: str
    container_name: str
    instance_id: str
    argv: tuple[str, ...]
    env: dict[str, str]
    working_dir: str
    log_path: str
    resources: Resources = field(default_factory=Resources)
    termination_message_path: str = ""
    sandbox: SandboxInfo | None = None  # the pod's namespaces to join (None: host)


@dataclass
class ExitInfo:
    """How an instance ended, with the evidence the runtime could gather.

    `exit_code` is already 128+signal for signal deaths (containerd
    `sys/reaper/reaper_unix.go`). Wall-clock times are epoch seconds."""

    exit_code: int
    signal: int | None = None
    finished_at: float = 0.0
    oom_killed: bool = False
    # Evidence for "why did my container die?" (issue 3); all optional.
    memory_limit: int | None = None
    memory_peak: int | None = None
    oom_kills_in_instance: int = 0
    oom_victims: list[str] = field(
        default_factory=list
    )  # "pid 123 (python3)" of OOM-killed children
    kernel_oom_line: str | None = None
    signal_sender: str | None = None  # "pid 42 (kill)" or None when unknown
    sent_by_us: str | None = None  # "SIGTERM", "SIGKILL after grace", set by stop()
    sigterm_ignored_seconds: float | None = None
    # CPU accounting of the instance's cgroup, read before teardown (None without cgroups).
    cpu_usage_seconds: float | None = None
    cpu_nr_throttled: int | None = None


class RunningInstance(Protocol):
    """A started container instance."""

    @property
    def instance_id(self) -> str: ...

    @property
    def pid(self) -> int: ...

    @property
    def started_at(self) -> float:
        """Wall-clock epoch seconds."""
        ...

    async def wait(self) -> ExitInfo:
        """Wait for the instance (its main process) to end and return how it ended."""
        ...


class ContainerRuntime(Protocol):
    async def start(self, request: StartRequest) -> RunningInstance:
        """Start an instance; raise `StartError` when it cannot run."""
        ...

    async def stop(self, instance: RunningInstance, grace_seconds: float) -> None:
        """SIGTERM the instance's whole process group (and cgroup), SIGKILL after `grace_seconds`.

        Returns once the instance is dead and reaped."""
        ...

    async def shutdown(self) -> None:
        """Kill whatever is left (the agent is going away)."""
        ...


@dataclass(frozen=True)
class SandboxInfo:
    """The pod's sandbox as the runtime needs it (the CRI's PodSandbox).

    With no namespaces (the host-network fallback) every field but `ip` is empty."""

    pod_uid: str
    ip: str = "127.0.0.1"
    netns_path: str | None = None  # e.g. /run/netns/pk-<uid>; containers join it
    hostname: str | None = None  # UTS namespace hostname (the pod name)
    pid_namespace: bool = False  # each container's first process is PID 1
    private_tmp: bool = False  # a mount namespace with its own /tmp


class SandboxManager(Protocol):
    async def create(self, pod_uid: str, pod_name: str, host_network: bool) -> SandboxInfo:
        """Make the pod's sandbox (network namespace, IP...); a fallback returns host networking."""
        ...

    async def destroy(self, sandbox: SandboxInfo) -> None:
        """Remove everything `create` made."""
        ...

    async def cleanup_stale(self, keep: frozenset[str]) -> list[str]:
        """Remove sandboxes of pods not in `keep` left by a crashed agent; say what went."""
        ...


class HostSandboxes:
    """No isolation: every pod uses the host network at 127.0.0.1 (non-root fallback)."""

    async def create(self, pod_uid: str, pod_name: str, host_network: bool) -> SandboxInfo:
        return SandboxInfo(pod_uid)

    async def destroy(self, sandbox: SandboxInfo) -> None:
        return None

    async def cleanup_stale(self, keep: frozenset[str]) -> list[str]:
        return []
