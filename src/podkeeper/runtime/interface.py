"""The runtime interface: what the agent asks of a container runtime (the kubelet's CRI role).

The pod worker decides *what* (from the core) and calls these; a runtime only
carries it out. `ProcessRuntime` (runtime/process/runtime.py) is the default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from podkeeper.core.result import ProbeOutcome
from podkeeper.core.spec import Resources, SecurityContext


class StartError(Exception):
    """The container could not start (missing binary, bad workingDir, ...).

    The status becomes terminated/StartError with exit code 128 and `message`
    (containerd `internal/cri/server/helpers.go`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(Exception):
    """The container cannot run on this runtime as configured (a process-runtime
    container without `command`, a `runAsNonRoot` that cannot hold...).

    The status becomes waiting/CreateContainerConfigError with `message`, as the
    kubelet's `generateContainerConfig` failures do (`kuberuntime_container.go`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImagePullError(ConfigError):
    """The image is not there and cannot be got (`EnsureImageExists` failed): the container
    waits with `reason` (ErrImagePull, ErrImageNeverPull, InvalidImageName) and `message`;
    `events` are the image manager's own (type, reason, message), e.g. `Pulling` then
    `Failed: Failed to pull image "x": ...` (`pkg/kubelet/images/image_manager.go`)."""

    def __init__(
        self, reason: str, message: str, events: tuple[tuple[str, str, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.events = events


@dataclass(frozen=True)
class Mount:
    """A volume mount of one container (the CRI's `Mount`): `host_path` (a folder or a
    file the agent prepared) appears at `container_path`; `read_only` makes that mount
    read-only (writes fail with EROFS)."""

    container_path: str
    host_path: str
    read_only: bool = False


@dataclass(frozen=True)
class StartRequest:
    """Everything needed to start one container instance.

    `instance_id` is unique per (pod, container, restart); `argv` and `env`
    are final (`$(VAR)` already expanded by the caller). `argv` is `command` +
    `args` (what the process runtime runs); an image runtime uses `image`,
    `command` and `args` separately: an empty `command` keeps the image's
    ENTRYPOINT and an empty `args` (with no `command`) its CMD, as Kubernetes does.

    `termination_message_file` is an agent-owned host file, created empty for
    this instance; the runtime makes it visible in the container at
    `termination_message_path` (the kubelet mounts a per-container file there),
    and the agent reads that file, never the user's path on the host."""

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
    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    security: SecurityContext = field(default_factory=SecurityContext)  # effective (pod merged)
    termination_message_file: str = ""
    mounts: tuple[Mount, ...] = ()  # volumeMounts, in the pod spec's order
    pod_key: str = ""  # `<name>_<namespace>(<uid>)`, for the kubelet's messages
    image_pull_policy: str = "IfNotPresent"  # Always | IfNotPresent | Never (image runtimes)
    # File | FallbackToLogsOnError: with File nothing reads the log at the exit, so an image
    # runtime may report the exit before the last log lines are copied (helper cri2).
    termination_message_policy: str = "File"
    # The pod's kubelet-managed hosts file (runtime/hostsfile.py), to mount at /etc/hosts;
    # "" when the container mounts /etc/hosts itself or the pod has no IP (helper hostsos).
    hosts_file: str = ""


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
        """Wait for the instance (its main process) to end and return how it ended.

        The log at `log_path` is complete then when the request's
        terminationMessagePolicy is FallbackToLogsOnError; otherwise an image runtime
        may copy its last lines a few ms later (cri/exits.py EVENT_LOG_SETTLE)."""
        ...

    def adoption_state(self) -> dict[str, Any]:
        """What a later agent needs to re-attach to this instance (`ContainerRuntime.adopt`),
        as JSON-able data; {} when it cannot be adopted (it dies with this agent)."""
        ...


class ContainerRuntime(Protocol):
    #: "process", "containerd" or "cri": shown by `version` and `describe pod`.
    name: str

    async def start(self, request: StartRequest) -> RunningInstance:
        """Start an instance; raise `ConfigError` when its configuration cannot run
        here (CreateContainerConfigError), `StartError` when it fails to start."""
        ...

    async def exec_sync(
        self, instance: RunningInstance, argv: Sequence[str], timeout: float
    ) -> ProbeOutcome:
        """Run `argv` inside the container (its namespaces, cgroup, user, env and
        workingDir), as CRI `ExecSync`, judged as the kubelet's exec prober judges it
        (`pkg/probe/exec/exec.go`): exit 0 is SUCCESS, anything else FAILURE with
        stdout + stderr (at most 10 KiB) as output; past `timeout` seconds FAILURE
        with `command timed out: "<argv>" timed out after <timeout>`. The prober
        itself failing is UNKNOWN with `error` set."""
        ...

    async def stop(self, instance: RunningInstance, grace_seconds: float) -> None:
        """SIGTERM the instance's whole process group (and cgroup), SIGKILL after `grace_seconds`.

        Returns once the instance is dead and reaped."""
        ...

    async def shutdown(self) -> None:
        """Kill whatever is left (the agent is going away)."""
        ...

    def usage(self, instance: RunningInstance) -> dict[str, int]:
        """What the instance uses now, in bytes per resource (`memory`: its working set;
        `ephemeral-storage`: what it wrote, its log included), for node-pressure
        eviction; resources the runtime cannot measure are left out."""
        ...

    async def adopt(
        self, request: StartRequest, state: Mapping[str, Any]
    ) -> RunningInstance | None:
        """Re-attach to an instance an earlier agent started (`state` from its
        `adoption_state`), as a restarted kubelet finds its containers through the CRI;
        None when it is gone without a trace (its exit status is lost)."""
        ...


class SandboxError(Exception):
    """The pod's sandbox could not be made (an `ip` command, RunPodSandbox, a full disk)."""


@dataclass(frozen=True)
class PodSandboxSpec:
    """What a sandbox manager learns of a pod beyond its uid and name (the agent's
    `describe` hook), as the kubelet's generatePodSandboxConfig
    (pkg/kubelet/kuberuntime/kuberuntime_sandbox.go) fills the CRI PodSandboxConfig."""

    namespace: str = "default"
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    # GeneratePodHostNameAndDomain: spec.hostname, else the pod name cut to 63 characters.
    hostname: str = ""
    port_mappings: tuple[tuple[str, int, int, str], ...] = ()  # protocol, container, host, ip
    privileged: bool = False  # core/security.py has_privileged_container
    #: securityContext.sysctls, dotted names (core/sysctls.py), admitted already.
    sysctls: Mapping[str, str] = field(default_factory=dict)


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
    sandbox_id: str = ""  # the CRI PodSandbox id (empty for the process runtime)
    # Host folders a container must not see (other pods' namespaces, agent homes).
    hidden_paths: tuple[str, ...] = ()
    ipc_path: str | None = None  # the pod's IPC namespace (a bind-mounted file); joined too


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
