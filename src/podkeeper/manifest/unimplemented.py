"""Fields Kubernetes accepts but podkeeper does not carry out, so they can be warned about.

The interface promises that such fields are "reported once as a warning naming
the field path, never silently dropped". The schemas below list what podkeeper
implements; anything else present (and not empty) is reported. `status` is
output, not input, and is ignored everywhere.
"""

from __future__ import annotations

from typing import Any, Union

from podkeeper.manifest.kinds import pod_template

# A schema is a dict of implemented keys: None accepts any value below the key,
# a dict descends, a one-element list descends into each list item, a
# frozenset names the implemented keys of a user-keyed map (`limits[cpu]`).
Schema = dict[str, Union["Schema", list["Schema"], frozenset[str], None]]

_META: Schema = {
    name: None
    for name in (
        "name",
        "namespace",
        "labels",
        "annotations",
        "generateName",
        "uid",
        "creationTimestamp",
        "resourceVersion",
        # Set by the API server; harmless in objects copied from `kubectl get -o yaml`.
        "generation",
        "managedFields",
        "selfLink",
    )
}
_QUANTITIES = frozenset({"cpu", "memory", "pids"})
_HTTP_GET: Schema = {
    "path": None,
    "port": None,
    "host": None,
    "scheme": None,
    "httpHeaders": [{"name": None, "value": None}],
}
_PROBE: Schema = {
    "exec": {"command": None},
    "httpGet": _HTTP_GET,
    "tcpSocket": {"port": None, "host": None},
    "grpc": {"port": None, "service": None},
    "initialDelaySeconds": None,
    "timeoutSeconds": None,
    "periodSeconds": None,
    "successThreshold": None,
    "failureThreshold": None,
    "terminationGracePeriodSeconds": None,
}
_HANDLER: Schema = {
    "exec": {"command": None},
    "httpGet": _HTTP_GET,
    "tcpSocket": {"port": None, "host": None},
    "sleep": {"seconds": None},
}
_KEY_TO_PATH: Schema = {"key": None, "path": None, "mode": None}
_DOWNWARD_ITEMS: Schema = {
    "path": None,
    "mode": None,
    "fieldRef": {"fieldPath": None, "apiVersion": None},
    "resourceFieldRef": {"containerName": None, "resource": None, "divisor": None},
}
# The volume sources runtime/volumes.py makes; any other (nfs, csi, ...) is warned about.
_VOLUME: Schema = {
    "name": None,
    "emptyDir": {"medium": None, "sizeLimit": None},
    "configMap": {"name": None, "items": [_KEY_TO_PATH], "defaultMode": None, "optional": None},
    "secret": {"secretName": None, "items": [_KEY_TO_PATH], "defaultMode": None, "optional": None},
    "downwardAPI": {"items": [_DOWNWARD_ITEMS], "defaultMode": None},
    "projected": {
        "defaultMode": None,
        "sources": [
            {
                "configMap": {"name": None, "items": [_KEY_TO_PATH], "optional": None},
                "secret": {"name": None, "items": [_KEY_TO_PATH], "optional": None},
                "downwardAPI": {"items": [_DOWNWARD_ITEMS]},
            }
        ],
    },
    "hostPath": {"path": None, "type": None},
    "persistentVolumeClaim": {"claimName": None, "readOnly": None},
}
_VOLUME_MOUNT: Schema = {
    "name": None,
    "mountPath": None,
    "readOnly": None,
    "subPath": None,
    "subPathExpr": None,
}
_CONTAINER: Schema = {
    "name": None,
    "image": None,
    "imagePullPolicy": None,
    "command": None,
    "args": None,
    "workingDir": None,
    # `env` is checked by _env_fields (fileKeyRef is not implemented).
    "envFrom": [{"prefix": None, "configMapRef": None, "secretRef": None}],
    "ports": [
        {"containerPort": None, "name": None, "protocol": None, "hostPort": None, "hostIP": None}
    ],
    "startupProbe": _PROBE,
    "readinessProbe": _PROBE,
    "livenessProbe": _PROBE,
    "lifecycle": {"postStart": _HANDLER, "preStop": _HANDLER},
    "resources": {"limits": _QUANTITIES, "requests": _QUANTITIES},
    "terminationMessagePath": None,
    "terminationMessagePolicy": None,
    "volumeMounts": [_VOLUME_MOUNT],
    "restartPolicy": None,
    # readOnlyRootFilesystem needs a root filesystem: the process runtime warns per pod.
    "securityContext": {
        "runAsUser": None,
        "runAsGroup": None,
        "runAsNonRoot": None,
        "capabilities": {"add": None, "drop": None},
        "allowPrivilegeEscalation": None,
        "privileged": None,
        "readOnlyRootFilesystem": None,
    },
}
_POD_SPEC: Schema = {
    "containers": [_CONTAINER],
    "initContainers": [_CONTAINER],
    "volumes": [_VOLUME],
    "restartPolicy": None,
    "terminationGracePeriodSeconds": None,
    "hostNetwork": None,
    "activeDeadlineSeconds": None,
    "securityContext": {
        "runAsUser": None,
        "runAsGroup": None,
        "runAsNonRoot": None,
        "supplementalGroups": None,
        "fsGroup": None,
        "sysctls": [{"name": None, "value": None}],  # core/sysctls.py
    },
    "dnsPolicy": None,
    "schedulerName": None,
    "nodeName": None,
    "runtimeClassName": None,
    "readinessGates": [{"conditionType": None}],
    "os": {"name": None},  # core/admission.py: another OS is rejected (PodOSNotSupported)
    "hostAliases": [{"ip": None, "hostnames": None}],  # core/hostsfile.py
}
_TEMPLATE: Schema = {"metadata": _META, "spec": _POD_SPEC}
_DEPLOYMENT_SPEC: Schema = {
    "replicas": None,
    "selector": None,
    "template": _TEMPLATE,
    "strategy": None,
    "minReadySeconds": None,
    "progressDeadlineSeconds": None,
    "revisionHistoryLimit": None,
    "paused": None,
}
_REPLICASET_SPEC: Schema = {
    "replicas": None,
    "selector": None,
    "template": _TEMPLATE,
    "minReadySeconds": None,
}
_SERVICE_SPEC: Schema = {
    "selector": None,
    "ports": [{"name": None, "port": None, "targetPort": None, "protocol": None, "nodePort": None}],
    "type": None,
    "clusterIP": None,
    "sessionAffinity": None,
}
# Kinds without a spec: their top-level fields (ConfigMap and Secret, runtime/configobjects.py).
_TOP_LEVEL: dict[str, Schema] = {
    "ConfigMap": {"data": None, "binaryData": None, "immutable": None},
    "Secret": {"data": None, "stringData": None, "type": None, "immutable": None},
}
# The workload kinds of controllers/workloads.py (issue 12). Left out, so warned about:
# Job backoffLimitPerIndex, maxFailedIndexes, podReplacementPolicy, successPolicy,
# managedBy; StatefulSet ordinals; claim selectors and data sources.
_JOB_SPEC: Schema = {
    "completions": None,
    "parallelism": None,
    "backoffLimit": None,
    "activeDeadlineSeconds": None,
    "ttlSecondsAfterFinished": None,
    "podFailurePolicy": None,
    "completionMode": None,
    "suspend": None,
    "selector": None,
    "manualSelector": None,
    "template": _TEMPLATE,
}
_CRONJOB_SPEC: Schema = {
    "schedule": None,
    "timeZone": None,
    "concurrencyPolicy": None,
    "startingDeadlineSeconds": None,
    "suspend": None,
    "successfulJobsHistoryLimit": None,
    "failedJobsHistoryLimit": None,
    "jobTemplate": {"metadata": _META, "spec": _JOB_SPEC},
}
_PVC_SPEC: Schema = {
    "accessModes": None,
    "resources": {"requests": frozenset({"storage"}), "limits": frozenset({"storage"})},
    "storageClassName": None,
    "volumeMode": None,
    "volumeName": None,
}
_STATEFULSET_SPEC: Schema = {
    "replicas": None,
    "selector": None,
    "template": _TEMPLATE,
    "serviceName": None,
    "podManagementPolicy": None,
    "updateStrategy": None,
    "volumeClaimTemplates": [
        {"apiVersion": None, "kind": None, "metadata": _META, "spec": _PVC_SPEC}
    ],
    "minReadySeconds": None,
    "revisionHistoryLimit": None,
    "persistentVolumeClaimRetentionPolicy": None,
}
_DAEMONSET_SPEC: Schema = {
    "selector": None,
    "template": _TEMPLATE,
    "updateStrategy": None,
    "minReadySeconds": None,
    "revisionHistoryLimit": None,
}
_SPECS: dict[str, Schema] = {
    "Pod": _POD_SPEC,
    "Deployment": _DEPLOYMENT_SPEC,
    "ReplicaSet": _REPLICASET_SPEC,
    "Service": _SERVICE_SPEC,
    "Job": _JOB_SPEC,
    "CronJob": _CRONJOB_SPEC,
    "StatefulSet": _STATEFULSET_SPEC,
    "DaemonSet": _DAEMONSET_SPEC,
    "PersistentVolumeClaim": _PVC_SPEC,
}
# The `env[].valueFrom` sources the agent resolves (core/envsource.py); every fieldRef
# path that validation accepts is implemented.
ENV_SOURCES = frozenset({"fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"})


def _empty(value: object) -> bool:
    return value is None or value == {} or value == []


def _walk(value: object, schema: Schema, path: str, out: list[str]) -> None:
    if not isinstance(value, dict):
        return  # wrong types are validation's business
    for key, sub in value.items():
        here = f"{path}.{key}" if path else str(key)
        if key == "status":
            continue
        if key == "env" and schema is _CONTAINER:
            _env_fields(sub, here, out)
            continue
        if key not in schema:
            if not _empty(sub):
                out.append(here)
            continue
        below = schema[key]
        if below is None:
            continue
        if isinstance(below, frozenset):
            if isinstance(sub, dict):
                out.extend(f"{here}[{k}]" for k in sub if k not in below)
        elif isinstance(below, list):
            if isinstance(sub, list):
                for i, item in enumerate(sub):
                    _walk(item, below[0], f"{here}[{i}]", out)
        else:
            _walk(sub, below, here, out)


def _env_fields(env: object, path: str, out: list[str]) -> None:
    if not isinstance(env, list):
        return
    for i, var in enumerate(env):
        if not isinstance(var, dict):
            continue
        here = f"{path}[{i}]"
        for key, sub in var.items():
            if key in ("name", "value") or _empty(sub):
                continue
            if key != "valueFrom" or not isinstance(sub, dict):
                out.append(f"{here}.{key}")
                continue
            for source, ref in sub.items():
                if source not in ENV_SOURCES and not _empty(ref):
                    out.append(f"{here}.valueFrom.{source}")


def unimplemented_fields(obj: dict[str, Any]) -> list[str]:
    """Paths of fields in the raw object that podkeeper accepts but does not implement."""
    out: list[str] = []
    kind = obj.get("kind")
    top: Schema = {"apiVersion": None, "kind": None, "metadata": _META}
    if str(kind) in _TOP_LEVEL:
        _walk(obj, {**top, **_TOP_LEVEL[str(kind)]}, "", out)
        return out
    spec_schema = _SPECS.get(str(kind))
    if spec_schema is not None:
        top["spec"] = spec_schema
        _walk(obj, top, "", out)
        return out
    # Kinds only linted (none left among the workloads): report within their pod template.
    _walk(obj, {**top, "spec": None}, "", out)
    found = pod_template(obj)
    if found is not None and found[1]:
        _walk(found[1], _TEMPLATE, found[0], out)
    return out
