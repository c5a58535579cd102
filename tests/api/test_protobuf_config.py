"""`kubectl create configmap|secret` bodies in Kubernetes protobuf (api/protobuf.py)."""

from __future__ import annotations

import base64

from podkeeper.api import protobuf


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _bool(number: int, value: bool) -> bytes:
    return _varint(number << 3) + _varint(int(value))


def _entry(number: int, key: str, value: bytes) -> bytes:
    return _field(number, _field(1, key.encode()) + _field(2, value))


def _envelope(kind: str, body: bytes) -> bytes:
    type_meta = _field(1, b"v1") + _field(2, kind.encode())
    return protobuf.MAGIC + _field(1, type_meta) + _field(2, body)


def test_secret_body() -> None:
    meta = _field(1, _field(1, b"creds") + _field(3, b"default"))
    body = meta + _entry(2, "pw", b"\x00s3cr3t") + _field(3, b"Opaque") + _bool(5, True)
    body += _entry(4, "user", b"admin")
    obj = protobuf.decode(_envelope("Secret", body))
    assert obj == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {"pw": base64.b64encode(b"\x00s3cr3t").decode()},
        "stringData": {"user": "admin"},
        "immutable": True,
        "type": "Opaque",
    }


def test_configmap_body() -> None:
    meta = _field(1, _field(1, b"app"))
    body = meta + _entry(2, "MODE", b"prod") + _entry(3, "bin", b"\xde\xca") + _bool(4, False)
    obj = protobuf.decode(_envelope("ConfigMap", body))
    assert obj["data"] == {"MODE": "prod"}
    assert obj["binaryData"] == {"bin": base64.b64encode(b"\xde\xca").decode()}
    assert obj["immutable"] is False
