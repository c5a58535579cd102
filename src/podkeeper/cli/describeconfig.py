"""`podkeeper describe configmap|secret`: kubectl's layouts (`describe.go`
`ConfigMapDescriber`, `describeSecret`). A Secret shows only the size of each value in
bytes, never the value (kubectl prints a service-account token; podkeeper does not)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from podkeeper.cli._text import tabwrite

Obj = dict[str, Any]


def _header(obj: Obj, lines: list[str]) -> None:
    from podkeeper.cli.describe import _annotations, _multiline

    meta = obj.get("metadata") or {}
    lines.append(f"Name:\t{meta.get('name', '')}")
    lines.append(f"Namespace:\t{meta.get('namespace') or 'default'}")
    _multiline("Labels", meta.get("labels"), lines)
    _annotations(meta.get("annotations"), lines)


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _size(value: Any) -> int:
    try:
        return len(base64.b64decode(str(value).replace("\n", "").replace("\r", "")))
    except (binascii.Error, ValueError):
        return 0


def describe_configmap(cm: Obj, events: list[Obj], now: datetime) -> str:
    from podkeeper.cli.describe import describe_events

    lines: list[str] = []
    _header(cm, lines)
    lines += ["", "Data", "===="]
    data = _map(cm.get("data"))
    for key in sorted(data):
        lines += [f"{key}:", "----", *str(data[key]).split("\n"), ""]
    lines += ["", "BinaryData", "===="]
    binary = _map(cm.get("binaryData"))
    lines += [f"{key}: {_size(binary[key])} bytes" for key in sorted(binary)]
    lines.append("")
    if not events:
        return tabwrite([*lines, "Events:\t<none>"])
    return tabwrite(lines) + describe_events(events, now)


def describe_secret(secret: Obj) -> str:
    lines: list[str] = []
    _header(secret, lines)
    lines += ["", f"Type:\t{secret.get('type') or ''}", "", "Data", "===="]
    data = _map(secret.get("data"))
    lines += [f"{key}:\t{_size(data[key])} bytes" for key in sorted(data)]
    return tabwrite(lines)
