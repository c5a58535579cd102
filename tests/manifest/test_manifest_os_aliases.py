"""spec.os and spec.hostAliases: validated as the API server does, carried to the core
(admission, the managed /etc/hosts), not reported as unimplemented."""

from __future__ import annotations

from manifest_helpers import pod

from podkeeper.manifest import (
    default_object,
    pod_from_object,
    unimplemented_fields,
    validate_object,
)


def _errors(obj: dict[str, object]) -> list[str]:
    return [str(e) for e in validate_object(default_object(obj))]


def test_os_and_aliases_are_implemented() -> None:
    obj = pod(os={"name": "windows"}, hostAliases=[{"ip": "1.2.3.4", "hostnames": ["a.b"]}])
    assert _errors(obj) == []
    assert unimplemented_fields(obj) == []
    assert pod_from_object(obj, uid="u").spec.os_name == "windows"
    assert pod_from_object(pod(), uid="u").spec.os_name is None


def test_os_validation() -> None:
    # validateOS: the name is required and is linux or windows (NotSupported on spec.os).
    assert _errors(pod(os={"name": "darwin"})) == [
        'spec.os: Unsupported value: "darwin": supported values: "linux", "windows"'
    ]
    assert _errors(pod(os={})) == ["spec.os.name: Required value: cannot be empty"]


def test_host_aliases_validation() -> None:
    bad = pod(hostAliases=[{"ip": "1.2.3", "hostnames": ["ok", "Not_OK"]}])
    errs = _errors(bad)
    assert len(errs) == 2
    assert errs[0].startswith('spec.hostAliases[0].ip: Invalid value: "1.2.3": must be a valid IP')
    assert errs[1].startswith('spec.hostAliases[0].hostnames[1]: Invalid value: "Not_OK"')
    # An IPv6 address is fine.
    assert _errors(pod(hostAliases=[{"ip": "2001:db8::1", "hostnames": ["x"]}])) == []
