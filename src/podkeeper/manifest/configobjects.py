"""ConfigMaps and Secrets: admission (stringData), defaults, validation, update rules.

Copied from the kube-apiserver:
- `pkg/apis/core/v1/conversion.go` `Convert_v1_Secret_To_core_Secret`: each
  `stringData` entry overwrites `data[key]` and `stringData` is dropped, so it
  is never stored nor returned;
- `pkg/apis/core/v1/defaults.go` `SetDefaults_Secret`: `type` defaults to `Opaque`;
- `pkg/apis/core/validation/validation.go` `ValidateConfigMap`, `ValidateSecret`,
  `ValidateConfigMapUpdate`, `ValidateSecretUpdate`, and apimachinery's
  `IsConfigMapKey`;
- `encoding/json` decoding a `[]byte` field with Go's `base64.StdEncoding`:
  `CorruptInputError` offsets come from `decodeQuantum` (`encoding/base64`).

Secret values never appear in a message here: errors name the key only.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from podkeeper.manifest import names
from podkeeper.manifest.checks import Errors, as_map
from podkeeper.manifest.field import FORBIDDEN, INVALID, REQUIRED, FieldError, GoValue

#: `core.MaxSecretSize`: the sum of the values of a ConfigMap or Secret, in bytes.
MAX_SIZE = 1024 * 1024
TOO_LONG = "Too long"
IMMUTABLE = "field is immutable when `immutable` is set"
REDACTED = GoValue('"<secret contents redacted>"')

_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE = re.compile("^" + _CONFIG_KEY_FMT + "$")
_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_B64 = {
    c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}


def is_config_map_key(value: str) -> list[str]:
    """apimachinery `validation.IsConfigMapKey` (also the rule for Secret keys)."""
    errs = []
    if len(value) > 253:
        errs.append(names.max_len_error(253))
    if not _CONFIG_KEY_RE.match(value):
        errs.append(
            names.regex_error(_CONFIG_KEY_MSG, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name")
        )
    # hasChDirPrefix: a key is a file name in a volume.
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def base64_error(text: str) -> str | None:
    """Go's `base64.StdEncoding` verdict on `text`: None when it decodes, else the
    `illegal base64 data at input byte N` message `encoding/json` returns."""
    src = text.encode("utf-8")
    si = 0
    n = len(src)
    while si < n:
        j = 0
        while j < 4:  # decodeQuantum
            if si == n:
                if j == 0:
                    return None
                return _corrupt(si - j)
            ch = src[si]
            si += 1
            if ch in _B64:
                j += 1
                continue
            if ch in (0x0A, 0x0D):
                continue
            if ch != 0x3D:  # '='
                return _corrupt(si - 1)
            if j in (0, 1):
                return _corrupt(si - 1)  # incorrect padding
            if j == 2:
                while si < n and src[si] in (0x0A, 0x0D):
                    si += 1
                if si == n:
                    return _corrupt(n)  # not enough padding
                if src[si] != 0x3D:
                    return _corrupt(si - 1)
                si += 1
            while si < n and src[si] in (0x0A, 0x0D):
                si += 1
            return _corrupt(si) if si < n else None  # trailing garbage
    return None


def _corrupt(offset: int) -> str:
    return f"illegal base64 data at input byte {offset}"


def decoded(text: str) -> bytes:
    """The bytes of a base64 value `base64_error` accepted (newlines are ignored)."""
    return base64.b64decode(text.replace("\n", "").replace("\r", ""))


def admit_secret(obj: dict[str, Any]) -> None:
    """In place: `stringData` merged into `data` (base64) and dropped; `type` Opaque."""
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for key, value in string_data.items():
            raw = value if isinstance(value, str) else "" if value is None else str(value)
            data[key] = base64.b64encode(raw.encode("utf-8")).decode("ascii")
    if not obj.get("type"):
        obj["type"] = "Opaque"


def _string_map(obj: dict[str, Any], name: str, errs: Errors) -> dict[str, Any]:
    value = obj.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        errs.append(FieldError(name, INVALID, GoValue(type(value).__name__), "must be a map"))
        return {}
    for key, item in value.items():
        if not isinstance(item, str):
            errs.append(FieldError(f"{name}[{key}]", INVALID, item, "must be a string"))
    return value


def _immutable_flag(obj: dict[str, Any], errs: Errors) -> None:
    flag = obj.get("immutable")
    if flag is not None and not isinstance(flag, bool):
        errs.append(FieldError("immutable", INVALID, flag, "must be a boolean"))


def validate_config_map(obj: dict[str, Any], errs: Errors) -> None:
    """`ValidateConfigMap` (after the metadata): keys, no key in both bags, total size."""
    _immutable_flag(obj, errs)
    data = _string_map(obj, "data", errs)
    binary = _string_map(obj, "binaryData", errs)
    total = 0
    for key in sorted(data):
        errs.extend(FieldError(f"data[{key}]", INVALID, key, m) for m in is_config_map_key(key))
        if key in binary:
            detail = "duplicate of key present in binaryData"
            errs.append(FieldError(f"data[{key}]", INVALID, key, detail))
        if isinstance(data[key], str):
            total += len(data[key].encode("utf-8"))
    for key in sorted(binary):
        path = f"binaryData[{key}]"
        errs.extend(FieldError(path, INVALID, key, m) for m in is_config_map_key(key))
        value = binary[key]
        if isinstance(value, str):
            problem = base64_error(value)
            if problem is not None:
                errs.append(FieldError(path, INVALID, GoValue('"<binary data>"'), problem))
            else:
                total += len(decoded(value))
    if total > MAX_SIZE:
        # field.NewPath("") prints as `[]` (Path.String writes an unnamed element as [index]).
        errs.append(FieldError("[]", TOO_LONG, None, f"may not be more than {MAX_SIZE} bytes"))


def validate_secret(obj: dict[str, Any], errs: Errors) -> None:
    """`ValidateSecret` (after the metadata), with the base64 decoding of `data` first."""
    _immutable_flag(obj, errs)
    data = _string_map(obj, "data", errs)
    total = 0
    values: dict[str, bytes] = {}
    for key in sorted(data):
        path = f"data[{key}]"
        errs.extend(FieldError(path, INVALID, key, m) for m in is_config_map_key(key))
        value = data[key]
        if not isinstance(value, str):
            continue
        problem = base64_error(value)
        if problem is not None:
            errs.append(FieldError(path, INVALID, REDACTED, problem))
            continue
        values[key] = decoded(value)
        total += len(values[key])
    if total > MAX_SIZE:
        errs.append(FieldError("data", TOO_LONG, None, f"may not be more than {MAX_SIZE} bytes"))
    kind = obj.get("type")
    required: tuple[str, ...] = ()
    if kind == "kubernetes.io/service-account-token":
        annotations = as_map(as_map(obj.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            path = "metadata.annotations[kubernetes.io/service-account.name]"
            errs.append(FieldError(path, REQUIRED))
    elif kind == "kubernetes.io/dockercfg":
        required = (".dockercfg",)
    elif kind == "kubernetes.io/dockerconfigjson":
        required = (".dockerconfigjson",)
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in values and "password" not in values:
            required = ("username", "password")
    elif kind == "kubernetes.io/ssh-auth":
        if not values.get("ssh-privatekey"):
            errs.append(FieldError("data[ssh-privatekey]", REQUIRED))
    elif kind == "kubernetes.io/tls":
        required = ("tls.crt", "tls.key")
    for key in required:
        if key not in values:
            errs.append(FieldError(f"data[{key}]", REQUIRED))


def validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[FieldError]:
    """`ValidateConfigMapUpdate` / `ValidateSecretUpdate`: what an update may not change.

    Both objects are admitted (a Secret's stringData already in `data`)."""
    errs: list[FieldError] = []
    kind = new.get("kind")
    if kind == "Secret" and (old.get("type") or "Opaque") != (new.get("type") or "Opaque"):
        errs.append(FieldError("type", INVALID, new.get("type"), "field is immutable"))
    if old.get("immutable") is not True:
        return errs
    if new.get("immutable") is not True:
        errs.append(FieldError("immutable", FORBIDDEN, None, IMMUTABLE))
    if (old.get("data") or {}) != (new.get("data") or {}):
        errs.append(FieldError("data", FORBIDDEN, None, IMMUTABLE))
    if kind == "ConfigMap" and (old.get("binaryData") or {}) != (new.get("binaryData") or {}):
        errs.append(FieldError("binaryData", FORBIDDEN, None, IMMUTABLE))
    return errs
