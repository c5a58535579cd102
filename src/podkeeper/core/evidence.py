"""Evidence records: everything known about one container's trouble, as data (issue 15).

The verdict rules (core/verdict.py) read only these records; who gathered
them does not matter. podkeeper's own agent fills them at a termination from
its runtime (exit status, who sent which signal, the instance's cgroup
counters, the kernel's OOM line); the cluster gatherer fills them from what the
Kubernetes API shows (core/apievidence.py over the objects a client fetched).
Whatever a source cannot see goes into `unseen`, in words, so that a verdict
can say what it does not know (issue 15: "what it could not see").

Which probe killed a container is a value (`Kill.killed_by`), never recovered
by the rules from an event message's text (architecture.md, "Evidence as
data"). Times are epoch seconds (wall clock), memory in bytes, CPU in
millicores unless named otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: `Kill.killed_by` values. The probe types are spelled as `ProbeType.value.lower()`.
LIVENESS = "liveness"
STARTUP = "startup"
#: `Stopping container` (the pod's deletion, a node drain, a finished pod, a deadline).
STOP = "stop"
#: The kubelet killed it because postStart failed (`FailedPostStartHook`).
POST_START = "postStart"
#: The node's eviction manager (or podkeeper's) stopped the pod for node pressure.
EVICTION = "eviction"


@dataclass(frozen=True)
class EventRecord:
    """One `v1 Event` about the pod, its node or an owner: reason, message, type, count and
    its first/last time (epoch seconds; None when unknown)."""

    reason: str
    message: str = ""
    type: str = "Normal"
    count: int = 1
    first_time: float | None = None
    last_time: float | None = None
    field_path: str = ""  # `spec.containers{app}` for a container's events
    kind: str = "Pod"  # the involved object's kind
    name: str = ""  # the involved object's name


@dataclass(frozen=True)
class Condition:
    """A pod, node or owner condition (`type`, `status` "True"/"False"/"Unknown")."""

    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition_time: float | None = None


@dataclass(frozen=True)
class Owner:
    """An owner in the pod's chain (ReplicaSet, Deployment, StatefulSet, Job...) and its
    conditions; `replicas`/`ready_replicas` when the kind has them."""

    kind: str
    name: str
    conditions: tuple[Condition, ...] = ()
    replicas: int | None = None
    ready_replicas: int | None = None
    progress_deadline_seconds: int | None = None
    backoff_limit: int | None = None


@dataclass(frozen=True)
class ProbeConfig:
    """One probe of the container, defaults applied (`probe_type` liveness/readiness/startup;
    `handler` as `kubectl describe` prints it, e.g. `http-get http://:8080/healthz`)."""

    probe_type: str
    handler: str = ""
    initial_delay_seconds: int = 0
    timeout_seconds: int = 1
    period_seconds: int = 10
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class Termination:
    """How the instance ended: the `terminated` state (exit code already 128+signal for a
    signal death), `signal` when known, the runtime's reason (OOMKilled, Error, Completed,
    StartError, ContainerStatusUnknown) and message, and its start/finish times."""

    exit_code: int
    reason: str = ""
    signal: int | None = None
    message: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    run_seconds: float | None = None


@dataclass(frozen=True)
class Kill:
    """The kubelet's (podkeeper's) own kill of the instance: who asked (`killed_by`, one of
    LIVENESS, STARTUP, STOP, POST_START, EVICTION, or None when not known), the Killing
    event's message, the grace period it had (s), when it was asked (epoch s), what was
    sent ("SIGTERM", "SIGKILL after grace") and how long SIGTERM was ignored (s)."""

    killed_by: str | None
    message: str = ""
    grace: int | None = None
    requested_at: float | None = None
    sent: str | None = None
    sigterm_ignored_seconds: float | None = None


@dataclass(frozen=True)
class Resources:
    """Limits and requests (bytes, millicores) and what was measured of the instance:
    `memory_peak` (its cgroup's peak), `memory_usage` (metrics.k8s.io, now), OOM kills in its
    own cgroup and their named victims, the kernel's OOM line, CPU use and throttling."""

    memory_limit: int | None = None
    memory_request: int | None = None
    cpu_limit_milli: int | None = None
    cpu_request_milli: int | None = None
    memory_peak: int | None = None
    memory_usage: int | None = None
    cpu_usage_milli: int | None = None
    oom_killed: bool = False
    oom_kills: int = 0
    oom_victims: tuple[str, ...] = ()
    kernel_oom_line: str | None = None
    cpu_usage_seconds: float | None = None
    cpu_nr_throttled: int | None = None


@dataclass(frozen=True)
class ObjectRef:
    """A ConfigMap or Secret the container reads (env, envFrom or a volume), with its key."""

    kind: str
    name: str
    key: str = ""
    optional: bool = False
    via: str = ""  # "env FOO", "envFrom", "volume config"


@dataclass(frozen=True)
class Evidence:
    """Everything known about one container of one pod, from any source.

    `source` names the gatherer ("podkeeper": the local agent's own records;
    "cluster": the Kubernetes API) and `actor` the component that kills and
    restarts containers there ("podkeeper" or "the kubelet"). `unseen` lists, in
    words, what the source could not show (a verdict repeats it)."""

    container: str
    pod: str = ""
    namespace: str = "default"
    source: str = "podkeeper"
    actor: str = "podkeeper"
    image: str = ""
    # Current state: "running", "waiting", "terminated" or "" when unknown.
    state: str = ""
    state_reason: str = ""
    state_message: str = ""
    state_since: float | None = None
    ready: bool | None = None
    started: bool | None = None
    restart_count: int = 0
    termination: Termination | None = None  # the instance being explained
    kill: Kill | None = None
    signal_sender: str | None = None  # "pid 42 (kill)" when the runtime saw it
    probe_output: str | None = None  # the last output of the probe that killed it
    resources: Resources = field(default_factory=Resources)
    probes: tuple[ProbeConfig, ...] = ()
    grace_period_seconds: int = 30  # the pod's terminationGracePeriodSeconds
    argv: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # literal env values only (never Secret data)
    refs: tuple[ObjectRef, ...] = ()
    events: tuple[EventRecord, ...] = ()  # the pod's events, oldest first
    log_tail: tuple[str, ...] = ()  # the explained instance's last log lines
    pod_phase: str = ""
    pod_reason: str = ""  # "Evicted", "DeadlineExceeded", ...
    pod_message: str = ""
    pod_conditions: tuple[Condition, ...] = ()
    pod_created: float | None = None
    node: str = ""
    node_conditions: tuple[Condition, ...] = ()
    node_events: tuple[EventRecord, ...] = ()
    owners: tuple[Owner, ...] = ()  # nearest first: ReplicaSet, then its Deployment
    unseen: tuple[str, ...] = ()

    def probe(self, probe_type: str) -> ProbeConfig | None:
        """The container's probe of that type (liveness, readiness, startup), if any."""
        return next((p for p in self.probes if p.probe_type == probe_type), None)

    def env_map(self) -> dict[str, str]:
        return dict(self.env)
