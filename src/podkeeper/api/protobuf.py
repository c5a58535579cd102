"""Just enough of the Kubernetes protobuf encoding to read an object's metadata.

kubectl's typed clients send some bodies as `application/vnd.kubernetes.protobuf`
(`kubectl create namespace` does). The envelope is `k8s\\0` + `runtime.Unknown`
(apimachinery `pkg/runtime/serializer/protobuf`); the object's field 1 is its
`ObjectMeta` (`generated.proto`: name 1, generateName 2, namespace 3, labels 11,
annotations 12). That is all a Namespace carries on create; for kinds with a
spec the API answers 415 instead of dropping fields.
"""

from __future__ import annotations

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


def _map(f: dict[int, list[Any]], n: int) -> dict[str, str]:
    out = {}
    for entry in f.get(n, []):
        e = fields(bytes(entry))
        out[_text(e, 1) or ""] = _text(e, 2) or ""
    return out


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
    return obj
