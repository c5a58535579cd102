"""Validation of `spec.volumes` and `volumeMounts`, with the API server's field paths and
messages (`pkg/apis/core/validation/validation.go`: `ValidateVolumes`,
`validateVolumeSource`, `validateHostPathVolumeSource`, `validateKeyToPath`,
`validateDownwardAPIVolumeSource`, `validateProjectedVolumeSource`,
`ValidateVolumeMounts`, `validateLocalDescendingPath`, `validateLocalNonReservedPath`).
"""

from __future__ import annotations

from typing import Any

from podkeeper.manifest import names
from podkeeper.manifest.checks import Errors, as_list, as_map, as_str, is_int
from podkeeper.manifest.field import (
    DUPLICATE,
    FORBIDDEN,
    INVALID,
    NOT_FOUND,
    NOT_SUPPORTED,
    REQUIRED,
    FieldError,
    supported,
)

_ONE_TYPE = "may not specify more than 1 volume type"
_FILE_MODE = "must be a number between 0 and 0777 (octal), both inclusive"
# Every volume source of the API; podkeeper mounts some (the rest are warned about).
_SOURCES = (
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
)
_HOST_PATH_TYPES = [
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
]
_DOWNWARD_FIELDS = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
]
_RESOURCES = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
]


def _descending(target: str, path: str, errs: Errors) -> None:
    """`validateLocalDescendingPath`: relative, without a `..` element."""
    if target.startswith("/"):
        errs.append(FieldError(path, INVALID, target, "must be a relative path"))
    if ".." in target.split("/"):
        errs.append(FieldError(path, INVALID, target, "must not contain '..'"))


def _non_reserved(target: str, path: str, errs: Errors) -> None:
    """`validateLocalNonReservedPath`: descending and not starting with `..`."""
    _descending(target, path, errs)
    if target.startswith(".."):
        errs.append(FieldError(path, INVALID, target, "must not start with '..'"))


def _mode(holder: dict[str, Any], key: str, path: str, errs: Errors) -> None:
    value = holder.get(key)
    if value is None:
        return
    if not is_int(value) or not 0 <= value <= 0o777:
        errs.append(FieldError(f"{path}.{key}", INVALID, value, _FILE_MODE))


def _key_to_paths(items: object, path: str, errs: Errors) -> None:
    for i, item in enumerate(as_list(items)):
        here = f"{path}[{i}]"
        kp = as_map(item)
        if not as_str(kp.get("key")):
            errs.append(FieldError(f"{here}.key", REQUIRED))
        target = as_str(kp.get("path"))
        if not target:
            errs.append(FieldError(f"{here}.path", REQUIRED))
        else:
            _non_reserved(target, f"{here}.path", errs)
        _mode(kp, "mode", here, errs)


def _downward_items(items: object, path: str, errs: Errors) -> None:
    for i, item in enumerate(as_list(items)):
        here = f"{path}[{i}]"
        it = as_map(item)
        target = as_str(it.get("path"))
        if not target:
            errs.append(FieldError(f"{here}.path", REQUIRED))
        else:
            _non_reserved(target, f"{here}.path", errs)
        _mode(it, "mode", here, errs)
        field_ref, res_ref = it.get("fieldRef"), it.get("resourceFieldRef")
        if field_ref is not None and res_ref is not None:
            errs.append(
                FieldError(
                    here,
                    INVALID,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                )
            )
        if field_ref is not None:
            fp = as_str(as_map(field_ref).get("fieldPath"))
            base = fp.split("[", 1)[0]
            if not fp:
                errs.append(FieldError(f"{here}.fieldRef.fieldPath", REQUIRED))
            elif base not in _DOWNWARD_FIELDS or ("[" in fp and base in _DOWNWARD_FIELDS[2:]):
                errs.append(
                    FieldError(
                        f"{here}.fieldRef.fieldPath",
                        NOT_SUPPORTED,
                        fp,
                        supported(_DOWNWARD_FIELDS),
                    )
                )
        elif res_ref is not None:
            ref = as_map(res_ref)
            if not as_str(ref.get("containerName")):
                errs.append(FieldError(f"{here}.resourceFieldRef.containerName", REQUIRED))
            res = as_str(ref.get("resource"))
            if not res:
                errs.append(FieldError(f"{here}.resourceFieldRef.resource", REQUIRED))
            elif res not in _RESOURCES:
                errs.append(
                    FieldError(
                        f"{here}.resourceFieldRef.resource",
                        NOT_SUPPORTED,
                        res,
                        supported(_RESOURCES),
                    )
                )
        else:
            errs.append(FieldError(here, REQUIRED, None, "one of fieldRef and resourceFieldRef"))


def _source(kind: str, src: dict[str, Any], path: str, errs: Errors) -> None:
    here = f"{path}.{kind}"
    if kind == "hostPath":
        if not as_str(src.get("path")):
            errs.append(FieldError(f"{here}.path", REQUIRED))
        t = src.get("type")
        if t is not None and t not in _HOST_PATH_TYPES:
            errs.append(FieldError(f"{here}.type", NOT_SUPPORTED, t, supported(_HOST_PATH_TYPES)))
    elif kind == "emptyDir":
        medium = src.get("medium")
        if medium not in (None, "", "Memory"):
            errs.append(
                FieldError(f"{here}.medium", NOT_SUPPORTED, medium, supported(["", "Memory"]))
            )
    elif kind in ("configMap", "secret"):
        key = "name" if kind == "configMap" else "secretName"
        if not as_str(src.get(key)):
            errs.append(FieldError(f"{here}.{key}", REQUIRED))
        _mode(src, "defaultMode", here, errs)
        _key_to_paths(src.get("items"), f"{here}.items", errs)
    elif kind == "persistentVolumeClaim":
        if not as_str(src.get("claimName")):
            errs.append(FieldError(f"{here}.claimName", REQUIRED))
    elif kind == "downwardAPI":
        _mode(src, "defaultMode", here, errs)
        _downward_items(src.get("items"), f"{here}.items", errs)
    elif kind == "projected":
        _mode(src, "defaultMode", here, errs)
        seen: set[str] = set()
        for i, proj in enumerate(as_list(src.get("sources"))):
            p = f"{here}.sources[{i}]"
            sources = as_map(proj)
            given = [k for k in ("secret", "downwardAPI", "configMap") if sources.get(k)]
            if len(given) > 1:
                errs.append(
                    FieldError(p, FORBIDDEN, None, "may not specify more than 1 volume type")
                )
            for k in given:
                s = as_map(sources[k])
                if k in ("secret", "configMap"):
                    if not as_str(s.get("name")):
                        errs.append(FieldError(f"{p}.{k}.name", REQUIRED))
                    _key_to_paths(s.get("items"), f"{p}.{k}.items", errs)
                    paths = [as_str(as_map(x).get("path")) for x in as_list(s.get("items"))]
                else:
                    _downward_items(s.get("items"), f"{p}.{k}.items", errs)
                    paths = [as_str(as_map(x).get("path")) for x in as_list(s.get("items"))]
                for target in paths:
                    if target and target in seen:
                        errs.append(
                            FieldError(
                                f"{p}.{k}.items.path",
                                INVALID,
                                target,
                                "conflicting duplicate paths",
                            )
                        )
                    seen.add(target)


def validate_volumes(volumes: object, path: str, errs: Errors) -> set[str]:
    """`ValidateVolumes`: unique DNS-label names and exactly one source each. Returns the
    names (for the volumeMounts check)."""
    seen: set[str] = set()
    for i, vol in enumerate(as_list(volumes)):
        here = f"{path}[{i}]"
        if not isinstance(vol, dict):
            errs.append(FieldError(here, INVALID, vol, "must be an object"))
            continue
        name = as_str(vol.get("name"))
        if not name:
            errs.append(FieldError(f"{here}.name", REQUIRED))
        else:
            errs.extend(
                FieldError(f"{here}.name", INVALID, name, m) for m in names.is_dns1123_label(name)
            )
            if name in seen:
                errs.append(FieldError(f"{here}.name", DUPLICATE, name))
            seen.add(name)
        given = [k for k in _SOURCES if vol.get(k) is not None]
        if not given:
            errs.append(FieldError(here, REQUIRED, None, "must specify a volume type"))
            continue
        for extra in given[1:]:
            errs.append(
                FieldError(
                    f"{here}.{extra}", FORBIDDEN, None, "may not specify more than 1 volume type"
                )
            )
        _source(given[0], as_map(vol.get(given[0])), here, errs)
    return seen


def validate_volume_mounts(
    container: dict[str, Any], volumes: set[str], path: str, errs: Errors
) -> None:
    """`ValidateVolumeMounts` of one container at `path` (`spec.containers[0]`)."""
    mount_paths: set[str] = set()
    for i, vm in enumerate(as_list(container.get("volumeMounts"))):
        here = f"{path}.volumeMounts[{i}]"
        m = as_map(vm)
        name = as_str(m.get("name"))
        if not name:
            errs.append(FieldError(f"{here}.name", REQUIRED))
        elif name not in volumes:
            errs.append(FieldError(f"{here}.name", NOT_FOUND, name))
        mount_path = as_str(m.get("mountPath"))
        if not mount_path:
            errs.append(FieldError(f"{here}.mountPath", REQUIRED))
        elif mount_path in mount_paths:
            errs.append(FieldError(f"{here}.mountPath", INVALID, mount_path, "must be unique"))
        mount_paths.add(mount_path)
        sub, expr = as_str(m.get("subPath")), as_str(m.get("subPathExpr"))
        if sub and expr:
            errs.append(
                FieldError(
                    f"{here}.subPathExpr",
                    INVALID,
                    expr,
                    "subPathExpr and subPath are mutually exclusive",
                )
            )
        if sub:
            _descending(sub, f"{here}.subPath", errs)
        if expr:
            _descending(expr, f"{here}.subPathExpr", errs)
