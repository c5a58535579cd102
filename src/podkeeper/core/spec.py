"""The pod spec as the core sees it: plain frozen data, Kubernetes defaults already applied.

`podkeeper.manifest` builds these from YAML/JSON (defaulting as
`pkg/apis/core/v1/defaults.go` does, validating as
`pkg/apis/core/validation/validation.go` does); the core only reads them.
Field names follow the Kubernetes API in snake_case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction


class ProbeType(Enum):
    """The three probe kinds; `.value` prints as the kubelet's `probeType.String()`."""

    STARTUP = "Startup"
    READINESS = "Readiness"
    LIVENESS = "Liveness"

    @property
    def field(self) -> str:
        """The pod-spec field name, e.g. `livenessProbe`."""
        return self.value.lower() + "Probe"


@dataclass(frozen=True)
class ExecAction:
    command: tuple[str, ...]


@dataclass(frozen=True)
class HTTPHeader:
    name: str
    value: str


@dataclass(frozen=True)
class HTTPGetAction:
    port: int | str
    path: str = "/"
    host: str = ""
    scheme: str = "HTTP"
    http_headers: tuple[HTTPHeader, ...] = ()


@dataclass(frozen=True)
class TCPSocketAction:
    port: int | str
    host: str = ""


@dataclass(frozen=True)
class GRPCAction:
    port: int
    service: str | None = None


@dataclass(frozen=True)
class SleepAction:
    """Lifecycle `sleep` handler (KEP-3960): the hook just waits `seconds`."""

    seconds: int


Handler = ExecAction | HTTPGetAction | TCPSocketAction | GRPCAction | SleepAction


@dataclass(frozen=True)
class Probe:
    """A probe with defaults applied (timeout 1, period 10, success 1, failure 3)."""

    handler: Handler
    initial_delay_seconds: int = 0
    timeout_seconds: int = 1
    period_seconds: int = 10
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace_period_seconds: int | None = None


@dataclass(frozen=True)
class Lifecycle:
    post_start: Handler | None = None
    pre_stop: Handler | None = None


@dataclass(frozen=True)
class ContainerPort:
    container_port: int
    name: str = ""
    protocol: str = "TCP"
    host_port: int = 0  # 0: none; on an image runtime, mapped by the CNI portmap plugin
    host_ip: str = ""


@dataclass(frozen=True)
class KeyRef:
    """`configMapKeyRef` / `secretKeyRef`: one key of a ConfigMap or Secret of the pod's
    namespace."""

    name: str
    key: str
    optional: bool = False


@dataclass(frozen=True)
class ResourceFieldRef:
    """`resourceFieldRef`: `resource` such as `limits.memory`; `divisor` 0 means unset (1)."""

    resource: str
    container_name: str = ""
    divisor: Fraction = Fraction(0)


@dataclass(frozen=True)
class EnvFromSource:
    """One `envFrom` entry: every key of ConfigMap or Secret (`kind`) `name`, prefixed."""

    kind: str
    name: str
    prefix: str = ""
    optional: bool = False


@dataclass(frozen=True)
class EnvVar:
    """One `env` entry. `field_ref` holds a downward-API fieldPath such as `metadata.name`;
    at most one of the `*_ref` fields is set (validation)."""

    name: str
    value: str | None = None
    field_ref: str | None = None
    config_map_key_ref: KeyRef | None = None
    secret_key_ref: KeyRef | None = None
    resource_field_ref: ResourceFieldRef | None = None


@dataclass(frozen=True)
class Resources:
    """Quantities already parsed: memory in bytes, cpu in millicores. None when unset."""

    limits_memory: int | None = None
    limits_cpu_milli: int | None = None
    requests_memory: int | None = None
    requests_cpu_milli: int | None = None
    limits_pids: int | None = None
    limits_ephemeral_storage: int | None = None
    requests_ephemeral_storage: int | None = None


@dataclass(frozen=True)
class SecurityContext:
    """A container's `securityContext`, or the pod-level one (`PodSecurityContext`: only the
    user, group, non-root and group fields exist there). None means unset, so that
    `effective_security` can let the container override the pod field by field."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    supplemental_groups: tuple[int, ...] = ()
    fs_group: int | None = None
    capabilities_add: tuple[str, ...] = ()
    capabilities_drop: tuple[str, ...] = ()
    allow_privilege_escalation: bool | None = None
    privileged: bool | None = None
    read_only_root_filesystem: bool | None = None


@dataclass(frozen=True)
class Container:
    name: str
    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    working_dir: str = ""
    env: tuple[EnvVar, ...] = ()
    env_from: tuple[EnvFromSource, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    startup_probe: Probe | None = None
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    resources: Resources = field(default_factory=Resources)
    termination_message_path: str = "/dev/termination-log"
    termination_message_policy: str = "File"
    # Only meaningful on init containers: "Always" makes it a sidecar (KEP-753).
    restart_policy: str | None = None
    image_pull_policy: str = "IfNotPresent"
    security_context: SecurityContext | None = None

    def probe(self, probe_type: ProbeType) -> Probe | None:
        if probe_type is ProbeType.STARTUP:
            return self.startup_probe
        if probe_type is ProbeType.READINESS:
            return self.readiness_probe
        return self.liveness_probe

    @property
    def is_sidecar(self) -> bool:
        return self.restart_policy == "Always"


@dataclass(frozen=True)
class PodSpec:
    containers: tuple[Container, ...]
    init_containers: tuple[Container, ...] = ()
    restart_policy: str = "Always"
    termination_grace_period_seconds: int = 30
    host_network: bool = False
    active_deadline_seconds: int | None = None
    security_context: SecurityContext | None = None  # the pod-level PodSecurityContext
    runtime_class_name: str | None = None  # core/runtimeclass.py
    #: spec.readinessGates' condition types: Ready also waits for each (core/status.py).
    readiness_gates: tuple[str, ...] = ()
    os_name: str | None = None  # spec.os.name (core/admission.py)
    #: securityContext.sysctls as (name, value), names as written (core/sysctls.py).
    sysctls: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ObjectMeta:
    name: str
    namespace: str = "default"
    uid: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    generate_name: str = ""

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class Pod:
    metadata: ObjectMeta
    spec: PodSpec

    @property
    def key(self) -> str:
        """`<podName>_<namespace>(<uid>)`, the form the kubelet's messages print (format.Pod)."""
        return f"{self.metadata.name}_{self.metadata.namespace}({self.metadata.uid})"

    def all_containers(self) -> tuple[Container, ...]:
        return self.spec.init_containers + self.spec.containers

    def container(self, name: str) -> Container:
        for c in self.all_containers():
            if c.name == name:
                return c
        raise KeyError(name)
