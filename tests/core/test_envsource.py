"""core/envsource.py: a container's environment as `makeEnvironmentVariables` builds it."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import pytest

from podkeeper.core.envexpand import EnvError
from podkeeper.core.envsource import Allocatable, DownwardPod, resolve_env
from podkeeper.core.spec import (
    Container,
    EnvFromSource,
    EnvVar,
    KeyRef,
    ResourceFieldRef,
    Resources,
)

POD = DownwardPod(
    "web",
    "ns1",
    "uid-1",
    {"app": "web"},
    {"team": "blue"},
    "node-a",
    "default",
    host_ips=("10.0.0.1", "fd00::1"),
    pod_ips=("10.1.0.5", "fd01::5"),
)
NODE = Allocatable(cpu_milli=4000, memory=8 * 1024**3, ephemeral_storage=100 * 1024**3)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


OBJECTS: dict[tuple[str, str], Mapping[str, Any]] = {
    ("ConfigMap", "cfg"): {"data": {"MODE": "prod", "LEVEL": "3", "a.b": "dots"}},
    ("ConfigMap", "other"): {"data": {"MODE": "test"}},
    ("Secret", "sec"): {"data": {"password": _b64("hunter2"), "token": _b64("t0k")}},
}


def lookup(kind: str, name: str) -> Mapping[str, Any] | None:
    return OBJECTS.get((kind, name))


def env(*variables: EnvVar, env_from: tuple[EnvFromSource, ...] = (), **res: Any) -> Container:
    return Container("app", env=variables, env_from=env_from, resources=Resources(**res))


def field(name: str, path: str) -> EnvVar:
    return EnvVar(name, field_ref=path)


def resource(name: str, what: str, divisor: str = "0", container: str = "") -> EnvVar:
    return EnvVar(name, resource_field_ref=ResourceFieldRef(what, container, Fraction(divisor)))


CASES: list[tuple[str, Container, dict[str, str]]] = [
    ("plain values", env(EnvVar("A", "1"), EnvVar("B", "")), {"A": "1", "B": ""}),
    (
        "configMapKeyRef and secretKeyRef (decoded)",
        env(
            EnvVar("M", config_map_key_ref=KeyRef("cfg", "MODE")),
            EnvVar("P", secret_key_ref=KeyRef("sec", "password")),
        ),
        {"M": "prod", "P": "hunter2"},
    ),
    (
        "optional missing object or key: the variable is not set",
        env(
            EnvVar("X", config_map_key_ref=KeyRef("nope", "k", optional=True)),
            EnvVar("Y", secret_key_ref=KeyRef("sec", "nokey", optional=True)),
        ),
        {},
    ),
    (
        "envFrom with prefix, then env overrides and expands against it",
        env(
            EnvVar("CFG_MODE", "override"),
            EnvVar("C", "$(CFG_LEVEL)-$(CFG_MODE)-$(UNKNOWN)"),
            env_from=(EnvFromSource("ConfigMap", "cfg", "CFG_"),),
        ),
        {"CFG_LEVEL": "3", "CFG_MODE": "override", "CFG_a.b": "dots", "C": "3-override-$(UNKNOWN)"},
    ),
    (
        "a later envFrom source wins; a secret's values are decoded",
        env(
            env_from=(
                EnvFromSource("ConfigMap", "cfg"),
                EnvFromSource("ConfigMap", "other"),
                EnvFromSource("Secret", "sec", "S_"),
                EnvFromSource("Secret", "missing", optional=True),
            )
        ),
        {
            "LEVEL": "3",
            "MODE": "test",
            "a.b": "dots",
            "S_password": "hunter2",
            "S_token": "t0k",
        },
    ),
    (
        "expansion sees only what is defined before",
        env(EnvVar("A", "$(B)"), EnvVar("B", "b"), EnvVar("C", "$(B)$$(B)")),
        {"A": "$(B)", "B": "b", "C": "b$(B)"},
    ),
    (
        "fieldRef values",
        env(
            field("N", "metadata.name"),
            field("NS", "metadata.namespace"),
            field("U", "metadata.uid"),
            field("L", "metadata.labels['app']"),
            field("LX", "metadata.labels['missing']"),
            field("AN", "metadata.annotations['team']"),
            field("NODE", "spec.nodeName"),
            field("SA", "spec.serviceAccountName"),
            field("HIP", "status.hostIP"),
            field("HIPS", "status.hostIPs"),
            field("PIP", "status.podIP"),
            field("PIPS", "status.podIPs"),
        ),
        {
            "N": "web",
            "NS": "ns1",
            "U": "uid-1",
            "L": "web",
            "LX": "",
            "AN": "blue",
            "NODE": "node-a",
            "SA": "default",
            "HIP": "10.0.0.1",
            "HIPS": "10.0.0.1,fd00::1",
            "PIP": "10.1.0.5",
            "PIPS": "10.1.0.5,fd01::5",
        },
    ),
    (
        "resourceFieldRef rounds up; requests default 0, limits the node's allocatable",
        env(
            resource("CPU_LIMIT", "limits.cpu"),
            resource("CPU_LIMIT_M", "limits.cpu", "1/1000"),
            resource("CPU_REQ", "requests.cpu"),
            resource("MEM_LIMIT", "limits.memory"),
            resource("MEM_REQ_MI", "requests.memory", str(1024**2)),
            resource("EPH_LIMIT_GI", "limits.ephemeral-storage", str(1024**3)),
            resource("EPH_REQ", "requests.ephemeral-storage"),
            limits_cpu_milli=1250,
            requests_cpu_milli=250,
            limits_memory=64 * 1024**2,
            requests_memory=32 * 1024**2 + 1,
        ),
        {
            "CPU_LIMIT": "2",
            "CPU_LIMIT_M": "1250",
            "CPU_REQ": "1",
            "MEM_LIMIT": str(64 * 1024**2),
            "MEM_REQ_MI": "33",
            "EPH_LIMIT_GI": "100",
            "EPH_REQ": "0",
        },
    ),
    (
        "no limits: the node's allocatable",
        env(resource("C", "limits.cpu"), resource("M", "limits.memory", str(1024**3))),
        {"C": "4", "M": "8"},
    ),
]


@pytest.mark.parametrize(("name", "container", "expected"), CASES, ids=[c[0] for c in CASES])
def test_resolve(name: str, container: Container, expected: dict[str, str]) -> None:
    result = resolve_env(container, POD, lookup, (container,), NODE)
    assert result.env == expected
    assert result.warnings == []


ERRORS: list[tuple[Container, str]] = [
    (env(EnvVar("X", config_map_key_ref=KeyRef("nope", "k"))), 'configmap "nope" not found'),
    (env(EnvVar("X", secret_key_ref=KeyRef("nope", "k"))), 'secret "nope" not found'),
    (
        env(EnvVar("X", config_map_key_ref=KeyRef("cfg", "k"))),
        "couldn't find key k in ConfigMap ns1/cfg",
    ),
    (
        env(EnvVar("X", secret_key_ref=KeyRef("sec", "k"))),
        "couldn't find key k in Secret ns1/sec",
    ),
    (
        env(env_from=(EnvFromSource("Secret", "nope", "P_"),)),
        'secret "nope" not found',
    ),
    (
        env(env_from=(EnvFromSource("ConfigMap", "nope"),)),
        'configmap "nope" not found',
    ),
    (
        # optional covers a missing object, not a missing key of another variable
        env(
            EnvVar("A", config_map_key_ref=KeyRef("nope", "k", optional=True)),
            EnvVar("B", config_map_key_ref=KeyRef("cfg", "k")),
        ),
        "couldn't find key k in ConfigMap ns1/cfg",
    ),
]


@pytest.mark.parametrize(("container", "message"), ERRORS)
def test_missing_sources_are_the_kubelets_errors(container: Container, message: str) -> None:
    with pytest.raises(EnvError) as err:
        resolve_env(container, POD, lookup, (container,), NODE)
    assert str(err.value) == message


def test_invalid_names_from_env_from_are_skipped_with_an_event() -> None:
    objects = {("ConfigMap", "c"): {"data": {"ok": "1", "bad=key": "2", "x\ty": "3"}}}
    container = env(env_from=(EnvFromSource("ConfigMap", "c", "P_"),))
    result = resolve_env(container, POD, lambda k, n: objects.get((k, n)), (container,), NODE)
    assert result.env == {"P_ok": "1"}
    assert result.warnings == [
        (
            "InvalidEnvironmentVariableNames",
            "Keys [P_bad=key, P_x\ty] from the EnvFrom configMap ns1/c were skipped since they "
            "are considered invalid environment variable names.",
        )
    ]


def test_resource_of_another_container() -> None:
    other = Container("side", resources=Resources(limits_memory=128 * 1024**2))
    container = env(resource("SIDE_MEM", "limits.memory", str(1024**2), "side"))
    result = resolve_env(container, POD, lookup, (container, other), NODE)
    assert result.env == {"SIDE_MEM": "128"}


def test_each_object_is_read_once() -> None:
    reads: list[tuple[str, str]] = []

    def counting(kind: str, name: str) -> Mapping[str, Any] | None:
        reads.append((kind, name))
        return lookup(kind, name)

    container = env(
        EnvVar("A", config_map_key_ref=KeyRef("cfg", "MODE")),
        EnvVar("B", config_map_key_ref=KeyRef("cfg", "LEVEL")),
        env_from=(EnvFromSource("ConfigMap", "cfg"),),
    )
    resolve_env(container, POD, counting, (container,), NODE)
    assert reads == [("ConfigMap", "cfg")]
