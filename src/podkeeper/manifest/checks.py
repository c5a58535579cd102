"""Small typed accessors shared by the validators: raw YAML values are `object` until checked."""

from __future__ import annotations

from typing import Any, TypeGuard

from podkeeper.manifest.field import INVALID, FieldError

Errors = list[FieldError]

# What a decoding error for a wrongly-typed field says (the API server would
# refuse the body before validation with a JSON unmarshal error).
NOT_INTEGER = "must be an integer"


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def as_map(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def get_int(obj: dict[str, Any], name: str, path: str, errs: Errors) -> int | None:
    """`obj[name]` when it is an integer; None when absent; a type error otherwise."""
    value = obj.get(name)
    if value is None:
        return None
    if is_int(value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    errs.append(FieldError(path, INVALID, value, NOT_INTEGER))
    return None


def expect_map(obj: dict[str, Any], name: str, path: str, errs: Errors) -> dict[str, Any] | None:
    """`obj[name]` when it is a mapping; None when absent; a type error otherwise."""
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    errs.append(FieldError(path, INVALID, value, "must be an object"))
    return None


def expect_list(obj: dict[str, Any], name: str, path: str, errs: Errors) -> list[Any]:
    """`obj[name]` when it is a list; [] when absent; a type error otherwise."""
    value = obj.get(name)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    errs.append(FieldError(path, INVALID, value, "must be a list"))
    return []


def expect_str_list(obj: dict[str, Any], name: str, path: str, errs: Errors) -> list[str]:
    """`obj[name]` as a list of strings (command, args)."""
    items = expect_list(obj, name, path, errs)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            errs.append(FieldError(f"{path}[{i}]", INVALID, item, "must be a string"))
    return [item for item in items if isinstance(item, str)]


def get_str(obj: dict[str, Any], name: str, path: str, errs: Errors) -> str:
    """`obj[name]` when it is a string; "" when absent; a type error otherwise."""
    value = obj.get(name)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    errs.append(FieldError(path, INVALID, value, "must be a string"))
    return ""


def nonnegative(value: int | None, path: str, errs: Errors) -> None:
    """`ValidateNonnegativeField`."""
    if value is not None and value < 0:
        errs.append(FieldError(path, INVALID, value, "must be greater than or equal to 0"))
