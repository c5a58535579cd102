"""What a configMap, secret, downwardAPI or projected volume holds: pure, no I/O.

The kubelet computes a volume's *payload* (relative path -> bytes and mode) from API
objects, then hands it to its AtomicWriter. This module is the first half, copied from
`pkg/volume/configmap/configmap.go` (`MakePayload`, `SetUpAt`),
`pkg/volume/secret/secret.go` (`MakePayload`), `pkg/volume/downwardapi/downwardapi.go`
(`CollectData`), `pkg/volume/projected/projected.go` (`collectData`),
`pkg/volume/util/atomic_writer.go` (`validatePath`), `pkg/fieldpath/fieldpath.go`
(`ExtractFieldPathAsString`, `FormatMap`), `pkg/api/v1/resource/helpers.go`
(`ExtractContainerResourceValue`) and `pkg/kubelet/container/helpers.go`
(`ExpandContainerVolumeMounts`) with `pkg/kubelet/kubelet_pods.go` (`makeMounts`).

Objects are plain dicts as the store holds them (contract 1); `Lookup` returns None
for an object that does not exist. Error texts are the kubelet's, so that a
`FailedMount` event reads `MountVolume.SetUp failed for volume "c" : configmap "late"
not found` exactly as on a node.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from podkeeper.core.envexpand import EnvError, expand
from podkeeper.core.envsource import Allocatable, DownwardPod
from podkeeper.core.envsource import field_value as env_field_value
from podkeeper.core.envsource import resource_value as env_resource_value
from podkeeper.core.spec import Container, ResourceFieldRef

Obj = dict[str, Any]
#: (kind, name) -> the object in the pod's namespace, or None when there is none.
Lookup = Callable[[str, str], Obj | None]

#: `DefaultMode` defaulting of configMap/secret/downwardAPI/projected (0644).
DEFAULT_MODE = 0o644
_MAX_PATH = 4096  # atomic_writer.go maxPathLength
_MAX_NAME = 255  # atomic_writer.go maxFileNameLength

#: The volume sources whose content the agent writes (the rest are directories or mounts).
PAYLOAD_SOURCES = ("configMap", "secret", "downwardAPI", "projected")
#: Every source this agent mounts, in the order they are looked for.
SUPPORTED_SOURCES = (
    "emptyDir",
    "configMap",
    "secret",
    "downwardAPI",
    "projected",
    "hostPath",
    "persistentVolumeClaim",
)


class VolumeError(Exception):
    """A volume cannot be set up now (`MountVolume.SetUp failed ...`); retried."""


@dataclass(frozen=True)
class FileProjection:
    """One file of a payload: its bytes and permission bits (`volumeutil.FileProjection`)."""

    data: bytes
    mode: int


Payload = dict[str, FileProjection]


#: The node's allocatable resources (core/envsource.py), the default of a missing limit.
NodeAllocatable = Allocatable


def volume_source(volume: Mapping[str, Any]) -> str | None:
    """The one source key set on `volume` (`emptyDir`, `configMap`...), None when none
    this agent knows is set."""
    for key in SUPPORTED_SOURCES:
        if volume.get(key) is not None:
            return key
    return None


def validate_path(target: str) -> str | None:
    """atomic_writer.go `validatePath`: the error for a payload path, None when valid."""
    if not target:
        return f"invalid path: must not be empty: {target!r}"
    if target.startswith("/"):
        return f"invalid path: must be relative path: {target}"
    if len(target) > _MAX_PATH:
        return f"invalid path: must be less than or equal to {_MAX_PATH} characters"
    items = target.split("/")
    for item in items:
        if item == "..":
            return f"invalid path: must not contain '..': {target}"
        if len(item) > _MAX_NAME:
            return f"invalid path: filenames must be less than or equal to {_MAX_NAME} characters"
    if items[0].startswith("..") and len(items[0]) > 2:
        return f"invalid path: must not start with '..': {target}"
    return None


def _clean(path: str) -> str:
    """Go `filepath.Clean` for a relative path (downwardapi.go cleans item paths)."""
    parts: list[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == ".." and parts and parts[-1] != "..":
            parts.pop()
        else:
            parts.append(p)
    return "/".join(parts) or "."


def _mode(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _items(source: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = source.get("items") or []
    return [i for i in items if isinstance(i, Mapping)]


def configmap_payload(
    items: Sequence[Mapping[str, Any]], cm: Mapping[str, Any], default_mode: int, optional: bool
) -> Payload:
    """configmap.go `MakePayload`: every key (data and binaryData) at its own name, or
    only `items` (key -> path, mode) when given."""
    data = cm.get("data") or {}
    binary = cm.get("binaryData") or {}
    payload: Payload = {}
    if not items:
        for name, text in data.items():
            payload[str(name)] = FileProjection(str(text).encode(), default_mode)
        for name, b64 in binary.items():
            payload[str(name)] = FileProjection(_b64(b64), default_mode)
        return payload
    for ktp in items:
        key = str(ktp.get("key", ""))
        if key in data:
            content = str(data[key]).encode()
        elif key in binary:
            content = _b64(binary[key])
        else:
            if optional:
                continue
            raise VolumeError(f"configmap references non-existent config key: {key}")
        payload[str(ktp.get("path", ""))] = FileProjection(
            content, _mode(ktp.get("mode"), default_mode)
        )
    return payload


def _b64(value: object) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        # The API server refuses bad base64; an object seeded around it stays unreadable.
        raise VolumeError("illegal base64 data in a data value") from None


def secret_payload(
    items: Sequence[Mapping[str, Any]], secret: Mapping[str, Any], default_mode: int, optional: bool
) -> Payload:
    """secret.go `MakePayload`: `data` values are base64 as in the API (contract 1)."""
    data = secret.get("data") or {}
    payload: Payload = {}
    if not items:
        for name, b64 in data.items():
            payload[str(name)] = FileProjection(_b64(b64), default_mode)
        return payload
    for ktp in items:
        key = str(ktp.get("key", ""))
        if key not in data:
            if optional:
                continue
            raise VolumeError(f"references non-existent secret key: {key}")
        payload[str(ktp.get("path", ""))] = FileProjection(
            _b64(data[key]), _mode(ktp.get("mode"), default_mode)
        )
    return payload


def format_map(m: Mapping[str, str]) -> str:
    """fieldpath.go `FormatMap`: sorted `key="value"` lines, Go-quoted, no final newline."""
    return "\n".join(f"{k}={_go_quote(str(m[k]))}" for k in sorted(m))


_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def _go_quote(s: str) -> str:
    """Go `%q` (`strconv.Quote`), as manifest/field.py's `go_quote` (core imports no manifest)."""
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def field_value(path: str, meta: Mapping[str, Any]) -> str:
    """`ExtractFieldPathAsString` for the fields a downwardAPI volume may name: the whole
    label and annotation maps (`FormatMap`), else as core/envsource.py reads them."""
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if path == "metadata.labels":
        return format_map(labels)
    if path == "metadata.annotations":
        return format_map(annotations)
    pod = DownwardPod(
        str(meta.get("name") or ""),
        str(meta.get("namespace") or ""),
        str(meta.get("uid") or ""),
        labels,
        annotations,
    )
    simple = path in ("metadata.name", "metadata.namespace", "metadata.uid")
    if simple or path.startswith(("metadata.labels['", "metadata.annotations['")):
        try:
            return env_field_value(path, pod)
        except EnvError:
            pass
    raise VolumeError(f"unsupported fieldPath: {path}")


_SUFFIXES: dict[str, Fraction | int] = {
    "": 1,
    "m": Fraction(1, 1000),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def _divisor(text: object) -> Fraction:
    """A `divisor` quantity (`1`, `1m`, `1Mi`...) exactly; 0 (unset: 1) when absent."""
    if text is None or text == "":
        return Fraction(0)
    s = str(text).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if suffix and s.endswith(suffix):
            num = s[: -len(suffix)]
            break
    else:
        suffix, num = "", s
    try:
        value = Fraction(num) * _SUFFIXES[suffix]
    except (ValueError, ZeroDivisionError):
        raise VolumeError(f"invalid divisor {s!r}") from None
    if value <= 0:
        raise VolumeError(f"invalid divisor {s!r}")
    return value


def resource_value(
    ref: Mapping[str, Any], containers: Sequence[Container], alloc: Allocatable
) -> str:
    """A `resourceFieldRef` item (helpers.go `ExtractContainerResourceValue` with the
    node's allocatable for a missing limit): core/envsource.py's `resource_value`."""
    if not containers:
        raise VolumeError("the pod has no containers")
    parsed = ResourceFieldRef(
        str(ref.get("resource", "")),
        str(ref.get("containerName") or ""),
        _divisor(ref.get("divisor")),
    )
    try:
        return env_resource_value(parsed, containers[0], containers, alloc)
    except EnvError as e:
        raise VolumeError(str(e)) from None


def downward_payload(
    items: Sequence[Mapping[str, Any]],
    default_mode: int,
    pod: Mapping[str, Any],
    containers: Sequence[Container],
    alloc: Allocatable,
) -> Payload:
    """downwardapi.go `CollectData`: one file per item (fieldRef or resourceFieldRef);
    errors are aggregated as `utilerrors.NewAggregate` prints them. `containers` are
    the pod's (init containers included), for `resourceFieldRef`."""
    meta = pod.get("metadata") or {}
    payload: Payload = {}
    errors: list[str] = []
    for item in items:
        path = _clean(str(item.get("path", "")))
        mode = _mode(item.get("mode"), default_mode)
        field_ref = item.get("fieldRef")
        res_ref = item.get("resourceFieldRef")
        try:
            if isinstance(field_ref, Mapping):
                content = field_value(str(field_ref.get("fieldPath", "")), meta)
            elif isinstance(res_ref, Mapping):
                content = resource_value(res_ref, containers, alloc)
            else:
                content = ""
        except VolumeError as e:
            errors.append(str(e))
            continue
        payload[path] = FileProjection(content.encode(), mode)
    if errors:
        raise VolumeError(aggregate(errors))
    return payload


def aggregate(errors: Sequence[str]) -> str:
    """`utilerrors.NewAggregate(...).Error()`: one error as itself, several in brackets."""
    unique = list(dict.fromkeys(errors))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"


def _optional(source: Mapping[str, Any]) -> bool:
    return source.get("optional") is True


def _lookup(kind: str, name: str, lookup: Lookup, optional: bool) -> Obj:
    obj = lookup(kind, name)
    if obj is None:
        if not optional:
            # The kubelet's object managers answer NotFound with the singular resource.
            raise VolumeError(f'{kind.lower()} "{name}" not found')
        return {}
    return obj


def projected_payload(
    source: Mapping[str, Any],
    pod: Mapping[str, Any],
    lookup: Lookup,
    containers: Sequence[Container],
    alloc: Allocatable,
    warn: Callable[[str], None] | None = None,
) -> Payload:
    """projected.go `collectData`: the sources' payloads merged (later wins), errors
    aggregated. A serviceAccountToken (or any other) projection is not supported here:
    `warn` is told and it is left out."""
    default_mode = _mode(source.get("defaultMode"), DEFAULT_MODE)
    payload: Payload = {}
    errors: list[str] = []
    for i, proj in enumerate(source.get("sources") or []):
        if not isinstance(proj, Mapping):
            continue
        try:
            if isinstance(proj.get("configMap"), Mapping):
                s = proj["configMap"]
                obj = _lookup("ConfigMap", str(s.get("name", "")), lookup, _optional(s))
                payload.update(configmap_payload(_items(s), obj, default_mode, _optional(s)))
            elif isinstance(proj.get("secret"), Mapping):
                s = proj["secret"]
                obj = _lookup("Secret", str(s.get("name", "")), lookup, _optional(s))
                payload.update(secret_payload(_items(s), obj, default_mode, _optional(s)))
            elif isinstance(proj.get("downwardAPI"), Mapping):
                s = proj["downwardAPI"]
                payload.update(downward_payload(_items(s), default_mode, pod, containers, alloc))
            elif warn is not None:
                kinds = ", ".join(sorted(k for k in proj if proj[k] is not None)) or "empty"
                warn(f"projected source [{i}] ({kinds}) is not supported by podkeeper: left out")
        except VolumeError as e:
            errors.append(str(e))
    if errors:
        raise VolumeError(aggregate(errors))
    return payload


def volume_payload(
    volume: Mapping[str, Any],
    pod: Mapping[str, Any],
    lookup: Lookup,
    containers: Sequence[Container],
    alloc: Allocatable,
    warn: Callable[[str], None] | None = None,
) -> Payload | None:
    """The payload of a configMap/secret/downwardAPI/projected `volume`; None for any
    other source. Raises `VolumeError` with the kubelet's message when it cannot be made
    now (a missing object or key), and for a payload path the AtomicWriter would refuse."""
    if isinstance(volume.get("configMap"), Mapping):
        s = volume["configMap"]
        obj = _lookup("ConfigMap", str(s.get("name", "")), lookup, _optional(s))
        mode = _mode(s.get("defaultMode"), DEFAULT_MODE)
        payload = configmap_payload(_items(s), obj, mode, _optional(s))
    elif isinstance(volume.get("secret"), Mapping):
        s = volume["secret"]
        obj = _lookup("Secret", str(s.get("secretName", "")), lookup, _optional(s))
        mode = _mode(s.get("defaultMode"), DEFAULT_MODE)
        payload = secret_payload(_items(s), obj, mode, _optional(s))
    elif isinstance(volume.get("downwardAPI"), Mapping):
        s = volume["downwardAPI"]
        mode = _mode(s.get("defaultMode"), DEFAULT_MODE)
        payload = downward_payload(_items(s), mode, pod, containers, alloc)
    elif isinstance(volume.get("projected"), Mapping):
        payload = projected_payload(volume["projected"], pod, lookup, containers, alloc, warn)
    else:
        return None
    for path in payload:
        err = validate_path(path)
        if err is not None:
            raise VolumeError(err)
    return payload


# ------------------------------------------------------------------ subPath


def expand_subpath_expr(expr: str, env: Mapping[str, str]) -> str:
    """helpers.go `ExpandContainerVolumeMounts`: `$(VAR)` from the container's env; a
    missing or empty variable is an error naming every such variable (sorted)."""
    missing: set[str] = set()

    class _Env(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            value = env.get(key)
            if not value:
                missing.add(key)
                return ""
            return value

    expanded = expand(expr, _Env())
    if missing:
        raise VolumeError(f"missing value for {', '.join(sorted(missing))}")
    return expanded


def subpath_error(sub_path: str) -> str | None:
    """kubelet_pods.go `makeMounts` checks of a (expanded) subPath: the
    CreateContainerConfigError message, None when usable."""
    if sub_path.startswith("/"):
        return f"error SubPath `{sub_path}` must not be an absolute path"
    if ".." in sub_path.split("/"):
        return f"unable to provision SubPath `{sub_path}`: must not contain '..'"
    return None
