"""ConfigMaps, Secrets and the environment they give containers, through the real CLI (issue 12).

A pod whose env needs a missing Secret waits in CreateContainerConfigError with
the kubelet's message and `Failed` events, and starts once the Secret is
applied; envFrom with a prefix, the downward API and resourceFieldRef give the
values the kubelet gives; an immutable ConfigMap refuses a data change; get and
describe print kubectl's layouts; no Secret value reaches events, describe or
the agent's log.
"""

from __future__ import annotations

import os
import re
import stat
import time
from typing import Any

from .conftest import PK, container_status, pod_manifest

SECRET_VALUE = "hunter2-d0n0tl34k"

CONFIG = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "app-config"},
    "data": {"MODE": "prod", "LEVEL": "3", "app.properties": "a=b"},
}
SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "app-secret"},
    "stringData": {"password": SECRET_VALUE},
}


def _env_pod(name: str = "envpod") -> dict[str, Any]:
    def field(var: str, path: str) -> dict[str, Any]:
        return {"name": var, "valueFrom": {"fieldRef": {"fieldPath": path}}}

    def res(var: str, what: str, divisor: str | None = None) -> dict[str, Any]:
        ref: dict[str, Any] = {"resource": what}
        if divisor:
            ref["divisor"] = divisor
        return {"name": var, "valueFrom": {"resourceFieldRef": ref}}

    container = {
        "name": "app",
        "image": "busybox",
        # One line per variable, then stay up: the log is the container's environment as
        # execve gave it (a shell drops names like `CFG_app.properties` from its own `env`;
        # `$$` is the kubelet's escape of `$`).
        "command": ["sh", "-c", "tr '\\0' '\\n' < /proc/$$$$/environ | sort; exec sleep 100000"],
        "resources": {
            "limits": {"cpu": "1250m", "memory": "64Mi"},
            "requests": {"cpu": "250m", "memory": "32Mi"},
        },
        "envFrom": [{"configMapRef": {"name": "app-config"}, "prefix": "CFG_"}],
        "env": [
            {
                "name": "PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "app-secret", "key": "password"}},
            },
            {
                "name": "OPTIONAL",
                "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}},
            },
            field("POD_NAME", "metadata.name"),
            field("POD_NAMESPACE", "metadata.namespace"),
            field("POD_UID", "metadata.uid"),
            field("POD_IP", "status.podIP"),
            field("HOST_IP", "status.hostIP"),
            field("NODE_NAME", "spec.nodeName"),
            field("SA", "spec.serviceAccountName"),
            field("APP_LABEL", "metadata.labels['app']"),
            field("TEAM", "metadata.annotations['team']"),
            res("CPU_LIMIT", "limits.cpu"),
            res("CPU_REQUEST", "requests.cpu"),
            res("MEMORY_LIMIT", "limits.memory"),
            res("MEMORY_REQUEST_MI", "requests.memory", "1Mi"),
            {"name": "COMBINED", "value": "$(CFG_MODE)/$(POD_NAME)"},
        ],
    }
    pod = pod_manifest(name, [container], terminationGracePeriodSeconds=1)
    pod["metadata"]["labels"] = {"app": "web"}
    pod["metadata"]["annotations"] = {"team": "blue"}
    return pod


def _env_of(pk: PK, pod: str) -> dict[str, str]:
    out = pk.run("logs", pod).out
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _waiting(pk: PK, pod: str) -> dict[str, Any] | None:
    status = container_status(pk.pod(pod), "app")
    waiting = (status.get("state") or {}).get("waiting")
    return waiting if waiting and waiting.get("reason") == "CreateContainerConfigError" else None


def test_pod_waits_for_a_missing_secret_then_starts_with_its_value(pk: PK) -> None:
    pk.up(CONFIG, _env_pod())
    waiting = pk.wait_for("CreateContainerConfigError", lambda: _waiting(pk, "envpod"), 30)
    assert waiting["message"] == 'secret "app-secret" not found'
    assert pk.pod("envpod")["status"]["phase"] == "Pending"
    failed = pk.wait_for(
        "the Failed event",
        lambda: [e for e in pk.events("envpod") if e["reason"] == "Failed"],
        30,
    )
    assert failed[0]["type"] == "Warning"
    assert failed[0]["message"] == 'Error: secret "app-secret" not found'
    assert failed[0]["involvedObject"]["fieldPath"] == "spec.containers{app}"
    table = pk.run("get", "pods").out
    assert re.search(r"^envpod\s+0/1\s+CreateContainerConfigError\s+0\s", table, re.M), table

    # The Secret appears: the pod starts at once (not at the next 10 s resync).
    path = pk.write("secret.yaml", SECRET)
    t0 = time.monotonic()
    assert pk.run("apply", "-f", str(path)).out.strip() == "secret/app-secret created"
    applied = time.monotonic()
    pk.wait_for(
        "the container running",
        lambda: "running" in (container_status(pk.pod("envpod"), "app").get("state") or {}),
        30,
        interval=0.05,
    )
    seen = time.monotonic()
    delay = seen - t0
    print(
        f"\nmissing Secret -> container running: {delay:.2f} s from `apply` started, "
        f"{seen - applied:.2f} s after it returned (CLI polls every 0.05 s)"
    )
    assert delay < 8, delay

    env = pk.wait_for("the environment in the log", lambda: _env_of(pk, "envpod").get("SA"), 30)
    assert env
    env = _env_of(pk, "envpod")
    pod = pk.pod("envpod")
    assert env["PASSWORD"] == SECRET_VALUE
    assert "OPTIONAL" not in env
    # envFrom with a prefix: every key, the dotted one included (any printable name).
    assert (env["CFG_MODE"], env["CFG_LEVEL"], env["CFG_app.properties"]) == ("prod", "3", "a=b")
    assert env["COMBINED"] == "prod/envpod"
    assert env["POD_NAME"] == "envpod" and env["POD_NAMESPACE"] == "default"
    assert env["POD_UID"] == pod["metadata"]["uid"]
    assert env["POD_IP"] == pod["status"]["podIP"] and env["POD_IP"]
    assert env["HOST_IP"] == pod["status"]["hostIP"]
    assert env["NODE_NAME"] == pod["spec"]["nodeName"]
    assert (env["SA"], env["APP_LABEL"], env["TEAM"]) == ("default", "web", "blue")
    # downwardapi.go DA4: ceil(1250m) = 2, ceil(250m) = 1, bytes, and a divisor.
    assert (env["CPU_LIMIT"], env["CPU_REQUEST"]) == ("2", "1")
    assert (env["MEMORY_LIMIT"], env["MEMORY_REQUEST_MI"]) == ("67108864", "32")

    # The kubelet's events, in order: Failed while waiting, then the container's start.
    reasons = [e["reason"] for e in pk.events("envpod")]
    assert reasons.index("Failed") < reasons.index("Started")

    # The value never reaches events, describe or the agent's log.
    described = pk.run("describe", "secret", "app-secret").out
    assert "password:\t" not in described  # tab-aligned by the tabwriter, not raw tabs
    assert re.search(rf"^password:\s+{len(SECRET_VALUE)} bytes$", described, re.M), described
    assert re.search(r"^Type:\s+Opaque$", described, re.M)
    texts = [
        described,
        pk.run("describe", "pod", "envpod").out,
        pk.run("events", "-o", "json").out,
        (pk.home / "agent.log").read_text(errors="replace"),
    ]
    for text in texts:
        assert SECRET_VALUE not in text
    # The store holding it is the owner's only.
    assert stat.S_IMODE(os.stat(pk.home).st_mode) == 0o700
    for entry in pk.home.iterdir():
        if entry.name.startswith("state") and entry.is_file():
            assert stat.S_IMODE(entry.stat().st_mode) & 0o077 == 0, entry


def test_missing_configmap_key_message_and_optional(pk: PK) -> None:
    pod = pod_manifest(
        "keypod",
        [
            {
                "name": "app",
                "image": "busybox",
                "command": ["sh", "-c", "env; exec sleep 100000"],
                "env": [
                    {
                        "name": "X",
                        "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "nokey"}},
                    }
                ],
            }
        ],
        terminationGracePeriodSeconds=1,
    )
    pk.up(CONFIG, pod)
    waiting = pk.wait_for("CreateContainerConfigError", lambda: _waiting(pk, "keypod"), 30)
    assert waiting["message"] == "couldn't find key nokey in ConfigMap default/app-config"
    # Adding the key to the ConfigMap starts the container.
    updated = {**CONFIG, "data": {**CONFIG["data"], "nokey": "now-here"}}
    pk.run("apply", "-f", str(pk.write("cm2.yaml", updated)))
    pk.wait_for(
        "the container running",
        lambda: "running" in (container_status(pk.pod("keypod"), "app").get("state") or {}),
        30,
    )
    pk.wait_for("X in the log", lambda: _env_of(pk, "keypod").get("X") == "now-here", 30)


def test_immutable_configmap_refuses_a_data_change(pk: PK) -> None:
    frozen = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "frozen"},
        "immutable": True,
        "data": {"a": "1"},
    }
    pk.up(frozen)
    changed = {**frozen, "data": {"a": "2"}}
    res = pk.run("apply", "-f", str(pk.write("changed.yaml", changed)), check=False)
    assert res.code != 0
    assert (
        'ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set'
    ) in res.err
    unset = {**frozen, "immutable": False}
    res = pk.run("apply", "-f", str(pk.write("unset.yaml", unset)), check=False)
    assert "immutable: Forbidden: field is immutable when `immutable` is set" in res.err
    # Labels may still change, and the data is what it was.
    labelled = {**frozen, "metadata": {"name": "frozen", "labels": {"x": "y"}}}
    assert "configured" in pk.run("apply", "-f", str(pk.write("l.yaml", labelled))).out
    got = pk.run("get", "cm", "frozen", "-o", "json").out
    assert '"a": "1"' in got and '"x": "y"' in got


def test_get_and_describe_configmaps_and_secrets(pk: PK) -> None:
    binary = {**CONFIG, "metadata": {"name": "bin"}, "binaryData": {"dump.bin": "3sr+utD+/w=="}}
    tls = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "tls"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"},
    }
    pk.up(CONFIG, binary, SECRET, tls)
    cms = pk.run("get", "configmaps").out.splitlines()
    assert re.split(r"\s{2,}", cms[0].strip()) == ["NAME", "DATA", "AGE"]
    rows = {line.split()[0]: line.split() for line in cms[1:]}
    assert rows["app-config"][1] == "3" and rows["bin"][1] == "4"
    secrets = pk.run("get", "secrets").out.splitlines()
    assert re.split(r"\s{2,}", secrets[0].strip()) == ["NAME", "TYPE", "DATA", "AGE"]
    rows = {line.split()[0]: line.split() for line in secrets[1:]}
    assert rows["app-secret"][1:3] == ["Opaque", "1"]
    assert rows["tls"][1:3] == ["kubernetes.io/tls", "2"]
    assert pk.run("get", "cm", "-o", "name").out.split() == [
        "configmap/app-config",
        "configmap/bin",
    ]
    described = pk.run("describe", "cm", "bin").out
    assert "Data\n====\nLEVEL:\n----\n3\n" in described
    assert "BinaryData\n====\ndump.bin: 7 bytes\n" in described
    tls_text = pk.run("describe", "secret", "tls").out
    assert re.search(r"^tls\.crt:\s+4 bytes$", tls_text, re.M)
    assert "Y2VydA" not in tls_text and "cert" not in tls_text
    # stringData was merged into data at admission and is never stored.
    stored = pk.run("get", "secret", "app-secret", "-o", "json").out
    assert "stringData" not in stored and '"type": "Opaque"' in stored
    bad = {**SECRET, "metadata": {"name": "bad"}, "data": {"k": "not base64!"}}
    res = pk.run("apply", "-f", str(pk.write("bad.yaml", bad)), check=False)
    assert res.code == 2
    assert (
        'Secret "bad" is invalid: data[k]: Invalid value: "<secret contents redacted>": '
        "illegal base64 data at input byte 3"
    ) in res.err
    assert pk.run("delete", "-f", str(pk.write("del.yaml", tls))).code == 0
    assert "tls" not in pk.run("get", "secrets").out
