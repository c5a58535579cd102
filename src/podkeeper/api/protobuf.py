"""Just enough of the Kubernetes protobuf encoding to read an object's metadata.

kubectl's typed clients send some bodies as `application/vnd.kubernetes.protobuf`
(`kubectl create namespace` does). The envelope is `k8s\\0` + `runtime.Unknown`
(apimachinery `pkg/runtime/serializer/protobuf`); the object's field 1 is its
`ObjectMeta` (`generated.proto`: name 1, generateName 2, namespace 3, labels 11,
annotations 12). That is all a Namespace carries on create; for kinds with a
spec the API answers 415 instead of dropping fields. ConfigMaps and Secrets
(`kubectl create configmap|secret`) are read whole: ConfigMap data 2,
binaryData 3, immutable 4; Secret data 2, type 3, stringData 4, immutable 5.
"""

from __future__ import annotations

import base64
from typing import Any

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    """Not a Kubernetes protobuf body this module can read."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(data: bytes) -> dict[int, list[Any]]:
    """A message's fields: number → values (bytes for length-delimited, int for varints)."""
    out: dict[int, list[Any]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value = data[pos : pos + size]
            if len(value) != size:
                raise ProtobufError("truncated field")
            pos += size
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _text(f: dict[int, list[Any]], n: int) -> str | None:
    values = f.get(n)
    return bytes(values[-1]).decode() if values else None


def _map(f: dict[int, list[Any]], n: int, binary: bool = False) -> dict[str, str]:
    """A `map<string, string>` field; `binary`: `map<string, bytes>`, base64 as in JSON."""
    out = {}
    for entry in f.get(n, []):
        e = fields(bytes(entry))
        if binary:
            raw = bytes(e.get(2, [b""])[-1])
            out[_text(e, 1) or ""] = base64.b64encode(raw).decode("ascii")
        else:
            out[_text(e, 1) or ""] = _text(e, 2) or ""
    return out


#: Kinds read whole (their fields below), not only their metadata.
FULL_KINDS = frozenset({"ConfigMap", "Secret"})
# kind -> (field, number, binary map) of `map` fields; then (field, number) of the others.
_MAPS = {
    "ConfigMap": (("data", 2, False), ("binaryData", 3, True)),
    "Secret": (("data", 2, True), ("stringData", 4, False)),
}
_BOOLS = {"ConfigMap": 4, "Secret": 5}  # immutable


def _body(kind: str, raw: dict[int, list[Any]], obj: dict[str, Any]) -> None:
    for name, n, binary in _MAPS.get(kind, ()):
        value = _map(raw, n, binary)
        if value:
            obj[name] = value
    flag = raw.get(_BOOLS.get(kind, 0))
    if flag:
        obj["immutable"] = bool(flag[-1])
    if kind == "Secret":
        secret_type = _text(raw, 3)
        if secret_type:
            obj["type"] = secret_type


def decode(body: bytes) -> dict[str, Any]:
    """`{"apiVersion", "kind", "metadata"}` from a protobuf body (spec and status unread)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf prefix")
    unknown = fields(body[len(MAGIC) :])
    type_meta = fields(bytes(unknown.get(1, [b""])[-1]))
    raw = fields(bytes(unknown.get(2, [b""])[-1]))
    meta_fields = fields(bytes(raw.get(1, [b""])[-1]))
    meta: dict[str, Any] = {}
    for key, n in (("name", 1), ("generateName", 2), ("namespace", 3)):
        value = _text(meta_fields, n)
        if value:
            meta[key] = value
    for key, n in (("labels", 11), ("annotations", 12)):
        value_map = _map(meta_fields, n)
        if value_map:
            meta[key] = value_map
    obj: dict[str, Any] = {"metadata": meta}
    api_version, kind = _text(type_meta, 1), _text(type_meta, 2)
    if api_version:
        obj["apiVersion"] = api_version
    if kind:
        obj["kind"] = kind
        _body(kind, raw, obj)
    return obj
