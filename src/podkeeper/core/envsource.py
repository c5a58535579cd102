"""A container's environment from its `env` and `envFrom`, as the kubelet builds it.

Pure: the ConfigMaps and Secrets come in through `lookup`, the node's
allocatable resources as numbers. Mimics `pkg/kubelet/kubelet_pods.go`
`makeEnvironmentVariables`:

1. `envFrom` first, in order: every key of the ConfigMap or Secret, with the
   prefix; a later source overrides an earlier one. A missing object is an
   error unless `optional`. Keys that cannot be variable names are skipped
   with a Warning `InvalidEnvironmentVariableNames` (the kubelet's event; since
   RelaxedEnvironmentVariableValidation any printable ASCII but `=` is valid,
   which every valid config key with a valid prefix is).
2. then `env`, in order: a non-empty `value` is `$(VAR)`-expanded against what
   is defined so far (envFrom included); else the `valueFrom` source:
   `fieldRef` (`podFieldSelectorRuntimeValue`), `resourceFieldRef`
   (`containerResourceRuntimeValue` on the pod defaulted by
   `defaultPodLimitsForDownwardAPI`: a missing limit is the node's
   allocatable), `configMapKeyRef` and `secretKeyRef` (a missing object or key
   is an error unless `optional`, then the variable is left out).

The errors are the kubelet's: the watch-based ConfigMap/Secret managers'
`configmap "x" not found` (`apierrors.NewNotFound` on the singular resource)
and `couldn't find key k in ConfigMap ns/x`. They become the container's
CreateContainerConfigError, retried at the next pod sync.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from podkeeper.core.envexpand import EnvError, expand
from podkeeper.core.spec import Container, EnvFromSource, KeyRef, ResourceFieldRef

#: `(kind, name)` -> the ConfigMap or Secret object of the pod's namespace, or None.
Lookup = Callable[[str, str], Mapping[str, Any] | None]

INVALID_NAMES = "InvalidEnvironmentVariableNames"


@dataclass(frozen=True)
class DownwardPod:
    """What `fieldRef` can read of the pod (`status.*IPs`: the first is `*IP`)."""

    name: str
    namespace: str
    uid: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    node_name: str = ""
    service_account_name: str = ""
    host_ips: tuple[str, ...] = ()
    pod_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class Allocatable:
    """The node's allocatable resources: cpu in millicores, the others in bytes."""

    cpu_milli: int
    memory: int
    ephemeral_storage: int


@dataclass
class ContainerEnv:
    """The resolved variables (in definition order) and the Warning events to record."""

    env: dict[str, str]
    warnings: list[tuple[str, str]] = field(default_factory=list)


def _is_env_name(name: str) -> bool:
    # IsRelaxedEnvVarName: printable ASCII except '='.
    return bool(name) and all(" " <= ch <= "~" and ch != "=" for ch in name)


def _decode(value: object) -> str:
    """A Secret value: base64 in the API, the bytes as the process sees them."""
    try:
        raw = base64.b64decode(str(value).replace("\n", "").replace("\r", ""))
    except (binascii.Error, ValueError):
        raw = b""  # validation refuses such Secrets before they are stored
    return raw.decode("utf-8", "surrogateescape")


class _Sources:
    """The objects read for one container, each read once (`configMaps`, `secrets`)."""

    def __init__(self, namespace: str, lookup: Lookup) -> None:
        self.namespace = namespace
        self.lookup = lookup
        self.cache: dict[tuple[str, str], Mapping[str, Any] | None] = {}

    def get(self, kind: str, name: str) -> Mapping[str, Any] | None:
        key = (kind, name)
        if key not in self.cache:
            self.cache[key] = self.lookup(kind, name)
        return self.cache[key]

    def data(self, kind: str, name: str, optional: bool) -> dict[str, str] | None:
        """The object's values as strings; None when missing and optional."""
        obj = self.get(kind, name)
        if obj is None:
            if optional:
                return None
            raise EnvError(f'{kind.lower()} "{name}" not found')
        raw = obj.get("data")
        values = raw if isinstance(raw, Mapping) else {}
        if kind == "Secret":
            return {str(k): _decode(v) for k, v in values.items()}
        return {str(k): str(v) for k, v in values.items()}

    def key(self, kind: str, ref: KeyRef) -> str | None:
        values = self.data(kind, ref.name, ref.optional)
        if values is None:
            return None
        if ref.key not in values:
            if ref.optional:
                return None
            raise EnvError(f"couldn't find key {ref.key} in {kind} {self.namespace}/{ref.name}")
        return values[ref.key]


def _env_from(
    sources: Sequence[EnvFromSource], objects: _Sources, env: dict[str, str]
) -> list[tuple[str, str]]:
    warnings = []
    for source in sources:
        values = objects.data(source.kind, source.name, source.optional)
        if values is None:
            continue
        invalid = []
        for key in sorted(values):
            name = source.prefix + key
            if not _is_env_name(name):
                invalid.append(name)
                continue
            env[name] = values[key]
        if invalid:
            word = "configMap" if source.kind == "ConfigMap" else "secret"
            warnings.append(
                (
                    INVALID_NAMES,
                    f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {word} "
                    f"{objects.namespace}/{source.name} were skipped since they are considered "
                    "invalid environment variable names.",
                )
            )
    return warnings


def field_value(path: str, pod: DownwardPod) -> str:
    """`podFieldSelectorRuntimeValue` + `fieldpath.ExtractFieldPathAsString`."""
    simple = {
        "metadata.name": pod.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": pod.uid,
        "spec.nodeName": pod.node_name,
        "spec.serviceAccountName": pod.service_account_name,
        "status.hostIP": pod.host_ips[0] if pod.host_ips else "",
        "status.hostIPs": ",".join(pod.host_ips),
        "status.podIP": pod.pod_ips[0] if pod.pod_ips else "",
        "status.podIPs": ",".join(pod.pod_ips),
    }
    if path in simple:
        return simple[path]
    for prefix, source in (
        ("metadata.labels", pod.labels),
        ("metadata.annotations", pod.annotations),
    ):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return source.get(path[len(prefix) + 2 : -2], "")
    raise EnvError(f'unsupported fieldPath: "{path}"')


def _ceil_div(value: Fraction, divisor: Fraction) -> str:
    return str(math.ceil(value / divisor)) if divisor else "0"


def resource_value(
    ref: ResourceFieldRef, container: Container, containers: Sequence[Container], node: Allocatable
) -> str:
    """`containerResourceRuntimeValue` after `defaultPodLimitsForDownwardAPI`: cpu as
    ceil(millicores / divisor millicores), memory and ephemeral-storage as
    ceil(bytes / divisor bytes), the divisor defaulting to 1."""
    target = container
    if ref.container_name:
        found = [c for c in containers if c.name == ref.container_name]
        if not found:
            raise EnvError(f"failed to find container with name {ref.container_name} in pod")
        target = found[0]
    r = target.resources
    divisor = ref.divisor or Fraction(1)
    values: dict[str, tuple[int | None, int]] = {
        "limits.cpu": (r.limits_cpu_milli, node.cpu_milli),
        "requests.cpu": (r.requests_cpu_milli, 0),
        "limits.memory": (r.limits_memory, node.memory),
        "requests.memory": (r.requests_memory, 0),
        "limits.ephemeral-storage": (r.limits_ephemeral_storage, node.ephemeral_storage),
        "requests.ephemeral-storage": (r.requests_ephemeral_storage, 0),
    }
    if ref.resource not in values:
        raise EnvError(f"unsupported container resource : {ref.resource}")
    given, default = values[ref.resource]
    amount = Fraction(given if given is not None else default)
    if ref.resource.endswith(".cpu"):
        # MilliValue of both, rounded up.
        return _ceil_div(amount, Fraction(math.ceil(divisor * 1000)))
    return _ceil_div(amount, Fraction(math.ceil(divisor)))


def resolve_env(
    container: Container,
    pod: DownwardPod,
    lookup: Lookup,
    containers: Sequence[Container] = (),
    node: Allocatable = Allocatable(0, 0, 0),
    services: Mapping[str, str] | None = None,
) -> ContainerEnv:
    """The container's variables as `makeEnvironmentVariables` makes them. `services`: the
    Service variables the pod sees (core/servicelinks.py); a `value` may expand them and
    the container's own variables override them (`MappingFuncFor(tmpEnv, serviceEnv)`,
    then "Append service env vars" for the names not defined). Raises `EnvError` with the
    kubelet's message when a source is missing."""
    objects = _Sources(pod.namespace, lookup)
    env: dict[str, str] = {}
    links: Mapping[str, str] = services or {}
    warnings = _env_from(container.env_from, objects, env)
    for var in container.env:
        value: str | None
        if var.value:
            value = expand(var.value, ChainMap(env, dict(links)) if links else env)
        elif var.field_ref is not None:
            value = field_value(var.field_ref, pod)
        elif var.resource_field_ref is not None:
            value = resource_value(var.resource_field_ref, container, containers, node)
        elif var.config_map_key_ref is not None:
            value = objects.key("ConfigMap", var.config_map_key_ref)
        elif var.secret_key_ref is not None:
            value = objects.key("Secret", var.secret_key_ref)
        else:
            value = ""
        if value is None:
            continue  # optional and missing: the variable is not set at all
        env[var.name] = value
    for name, value in links.items():
        env.setdefault(name, value)
    return ContainerEnv(env, warnings)
