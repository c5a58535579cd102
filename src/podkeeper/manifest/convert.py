"""`pod_from_object`: a defaulted, validated Pod dict -> `podkeeper.core.spec.Pod`."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from podkeeper.core import spec
from podkeeper.manifest import quantity
from podkeeper.manifest.checks import as_list, as_map, as_str, is_int


def _os_name(value: object) -> str | None:
    """`spec.os.name`, None when `spec.os` is unset (admission checks it)."""
    if not isinstance(value, dict):
        return None
    return as_str(value.get("name"))


def _int(value: object, default: int) -> int:
    return int(value) if is_int(value) else default


def _opt_int(value: object) -> int | None:
    return int(value) if is_int(value) else None


def _port(value: object) -> int | str:
    """An IntOrString port: named ports stay strings."""
    if isinstance(value, str):
        return value
    return _int(value, 0)


def _strs(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in as_list(value))


def _handler(obj: dict[str, Any]) -> spec.Handler | None:
    """The first handler present, in validateHandler's order."""
    if isinstance(obj.get("exec"), dict):
        return spec.ExecAction(command=_strs(obj["exec"].get("command")))
    if isinstance(obj.get("httpGet"), dict):
        h = obj["httpGet"]
        headers = tuple(
            spec.HTTPHeader(name=as_str(x.get("name")), value=as_str(x.get("value")))
            for x in as_list(h.get("httpHeaders"))
            if isinstance(x, dict)
        )
        return spec.HTTPGetAction(
            port=_port(h.get("port")),
            path=as_str(h.get("path")) or "/",
            host=as_str(h.get("host")),
            scheme=as_str(h.get("scheme")) or "HTTP",
            http_headers=headers,
        )
    if isinstance(obj.get("tcpSocket"), dict):
        t = obj["tcpSocket"]
        return spec.TCPSocketAction(port=_port(t.get("port")), host=as_str(t.get("host")))
    if isinstance(obj.get("grpc"), dict):
        g = obj["grpc"]
        service = g.get("service")
        return spec.GRPCAction(
            port=_int(g.get("port"), 0), service=service if isinstance(service, str) else None
        )
    if isinstance(obj.get("sleep"), dict):
        return spec.SleepAction(seconds=_int(obj["sleep"].get("seconds"), 0))
    return None


def _probe(value: object) -> spec.Probe | None:
    if not isinstance(value, dict):
        return None
    handler = _handler({k: v for k, v in value.items() if k != "sleep"})
    if handler is None:
        return None
    return spec.Probe(
        handler=handler,
        initial_delay_seconds=_int(value.get("initialDelaySeconds"), 0),
        timeout_seconds=_int(value.get("timeoutSeconds"), 1) or 1,
        period_seconds=_int(value.get("periodSeconds"), 10) or 10,
        success_threshold=_int(value.get("successThreshold"), 1) or 1,
        failure_threshold=_int(value.get("failureThreshold"), 3) or 3,
        termination_grace_period_seconds=_opt_int(value.get("terminationGracePeriodSeconds")),
    )


def _lifecycle(value: object) -> spec.Lifecycle:
    hooks = as_map(value)
    post_start = hooks.get("postStart")
    pre_stop = hooks.get("preStop")
    return spec.Lifecycle(
        post_start=_handler(post_start) if isinstance(post_start, dict) else None,
        pre_stop=_handler(pre_stop) if isinstance(pre_stop, dict) else None,
    )


def _key_ref(value: object) -> spec.KeyRef | None:
    if not isinstance(value, dict):
        return None
    return spec.KeyRef(
        as_str(value.get("name")), as_str(value.get("key")), value.get("optional") is True
    )


def _resource_ref(value: object) -> spec.ResourceFieldRef | None:
    if not isinstance(value, dict):
        return None
    divisor = Fraction(0)
    raw = value.get("divisor")
    if raw is not None and raw != "":
        try:
            divisor = quantity.parse_quantity(raw)
        except ValueError:
            pass  # validation reports it
    return spec.ResourceFieldRef(
        as_str(value.get("resource")), as_str(value.get("containerName")), divisor
    )


def _env(value: object) -> tuple[spec.EnvVar, ...]:
    """Env vars with their `valueFrom` source (resolved by core/envsource.py)."""
    out = []
    for var in as_list(value):
        if not isinstance(var, dict):
            continue
        value_from = as_map(var.get("valueFrom"))
        field_ref = as_map(value_from.get("fieldRef")).get("fieldPath")
        raw = var.get("value")
        out.append(
            spec.EnvVar(
                name=as_str(var.get("name")),
                value=raw if isinstance(raw, str) else None,
                field_ref=field_ref if isinstance(field_ref, str) else None,
                config_map_key_ref=_key_ref(value_from.get("configMapKeyRef")),
                secret_key_ref=_key_ref(value_from.get("secretKeyRef")),
                resource_field_ref=_resource_ref(value_from.get("resourceFieldRef")),
            )
        )
    return tuple(out)


def _env_from(value: object) -> tuple[spec.EnvFromSource, ...]:
    out = []
    for source in as_list(value):
        if not isinstance(source, dict):
            continue
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = source.get(field)
            if isinstance(ref, dict):
                out.append(
                    spec.EnvFromSource(
                        kind,
                        as_str(ref.get("name")),
                        as_str(source.get("prefix")),
                        ref.get("optional") is True,
                    )
                )
                break
    return tuple(out)


def _quantity(values: dict[str, Any], name: str, milli: bool) -> int | None:
    raw = values.get(name)
    if raw is None:
        return None
    try:
        value = quantity.parse_quantity(raw)
    except ValueError:
        return None
    return quantity.cpu_millis(value) if milli else quantity.memory_bytes(value)


def _resources(value: object) -> spec.Resources:
    res = as_map(value)
    limits, requests = as_map(res.get("limits")), as_map(res.get("requests"))
    return spec.Resources(
        limits_memory=_quantity(limits, "memory", milli=False),
        limits_cpu_milli=_quantity(limits, "cpu", milli=True),
        requests_memory=_quantity(requests, "memory", milli=False),
        requests_cpu_milli=_quantity(requests, "cpu", milli=True),
        limits_pids=_quantity(limits, "pids", milli=False),
        limits_ephemeral_storage=_quantity(limits, "ephemeral-storage", milli=False),
        requests_ephemeral_storage=_quantity(requests, "ephemeral-storage", milli=False),
    )


def _ints(value: object) -> tuple[int, ...]:
    return tuple(v for v in as_list(value) if isinstance(v, int) and not isinstance(v, bool))


def _opt_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _security(value: object) -> spec.SecurityContext | None:
    """A container's `securityContext` or a pod's (`PodSecurityContext`); None when absent."""
    if not isinstance(value, dict):
        return None
    caps = as_map(value.get("capabilities"))
    return spec.SecurityContext(
        run_as_user=_opt_int(value.get("runAsUser")),
        run_as_group=_opt_int(value.get("runAsGroup")),
        run_as_non_root=_opt_bool(value.get("runAsNonRoot")),
        supplemental_groups=_ints(value.get("supplementalGroups")),
        fs_group=_opt_int(value.get("fsGroup")),
        capabilities_add=_strs(caps.get("add")),
        capabilities_drop=_strs(caps.get("drop")),
        allow_privilege_escalation=_opt_bool(value.get("allowPrivilegeEscalation")),
        privileged=_opt_bool(value.get("privileged")),
        read_only_root_filesystem=_opt_bool(value.get("readOnlyRootFilesystem")),
    )


def _container(c: dict[str, Any]) -> spec.Container:
    ports = tuple(
        spec.ContainerPort(
            container_port=_int(p.get("containerPort"), 0),
            name=as_str(p.get("name")),
            protocol=as_str(p.get("protocol")) or "TCP",
            host_port=_int(p.get("hostPort"), 0),
            host_ip=as_str(p.get("hostIP")),
        )
        for p in as_list(c.get("ports"))
        if isinstance(p, dict)
    )
    restart = c.get("restartPolicy")
    return spec.Container(
        name=as_str(c.get("name")),
        image=as_str(c.get("image")),
        command=_strs(c.get("command")),
        args=_strs(c.get("args")),
        working_dir=as_str(c.get("workingDir")),
        env=_env(c.get("env")),
        env_from=_env_from(c.get("envFrom")),
        ports=ports,
        startup_probe=_probe(c.get("startupProbe")),
        readiness_probe=_probe(c.get("readinessProbe")),
        liveness_probe=_probe(c.get("livenessProbe")),
        lifecycle=_lifecycle(c.get("lifecycle")),
        resources=_resources(c.get("resources")),
        termination_message_path=as_str(c.get("terminationMessagePath")) or "/dev/termination-log",
        termination_message_policy=as_str(c.get("terminationMessagePolicy")) or "File",
        restart_policy=restart if isinstance(restart, str) else None,
        image_pull_policy=as_str(c.get("imagePullPolicy")) or "IfNotPresent",
        security_context=_security(c.get("securityContext")),
    )


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in as_map(value).items())


def pod_from_object(obj: dict[str, Any], uid: str = "") -> spec.Pod:
    """The core Pod of a defaulted, validated Pod dict; `uid` overrides `metadata.uid`."""
    meta = as_map(obj.get("metadata"))
    pod_spec = as_map(obj.get("spec"))
    grace = pod_spec.get("terminationGracePeriodSeconds")
    metadata = spec.ObjectMeta(
        name=as_str(meta.get("name")),
        namespace=as_str(meta.get("namespace")) or "default",
        uid=uid or as_str(meta.get("uid")),
        labels=_pairs(meta.get("labels")),
        annotations=_pairs(meta.get("annotations")),
        generate_name=as_str(meta.get("generateName")),
    )
    return spec.Pod(
        metadata=metadata,
        spec=spec.PodSpec(
            containers=tuple(
                _container(c) for c in as_list(pod_spec.get("containers")) if isinstance(c, dict)
            ),
            init_containers=tuple(
                _container(c)
                for c in as_list(pod_spec.get("initContainers"))
                if isinstance(c, dict)
            ),
            restart_policy=as_str(pod_spec.get("restartPolicy")) or "Always",
            termination_grace_period_seconds=_int(grace, 30),
            host_network=pod_spec.get("hostNetwork") is True,
            active_deadline_seconds=_opt_int(pod_spec.get("activeDeadlineSeconds")),
            security_context=_security(pod_spec.get("securityContext")),
            runtime_class_name=as_str(pod_spec.get("runtimeClassName")) or None,
            readiness_gates=tuple(
                as_str(g.get("conditionType"))
                for g in as_list(pod_spec.get("readinessGates"))
                if isinstance(g, dict) and as_str(g.get("conditionType"))
            ),
            os_name=_os_name(pod_spec.get("os")),
            sysctls=tuple(
                (as_str(x.get("name")), as_str(x.get("value")))
                for x in as_list(as_map(pod_spec.get("securityContext")).get("sysctls"))
                if isinstance(x, dict) and as_str(x.get("name"))
            ),
        ),
    )
