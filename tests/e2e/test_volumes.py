"""End-to-end: volumes and volumeMounts on the process runtime, through the real CLI.

ConfigMaps and Secrets are applied with `podkeeper up` (`seed`) and deleted with
`podkeeper delete` (`unseed`), as a user does.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from podkeeper.runtime.process import sandbox as sb

from .conftest import PK, Result, container_status, pod_manifest

_WHY = sb.unavailable_reason()
pytestmark = pytest.mark.skipif(_WHY is not None, reason=_WHY or "n/a")


def seed(pk: PK, obj: dict[str, Any]) -> None:
    """Create or replace a ConfigMap/Secret through the CLI (`podkeeper up`, as `apply`)."""
    pk.up(obj)


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def secret(name: str, **data: str) -> dict[str, Any]:
    enc = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": enc}


def _c(name: str, script: str, mounts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": "x",
        "command": ["sh", "-c", script],
        "volumeMounts": mounts,
        **extra,
    }


def _logs(pk: PK, pod: str, container: str | None = None) -> str:
    args = ["logs", pod] + (["-c", container] if container else [])
    return pk.run(*args, check=False).out


def _running(pk: PK, name: str) -> bool:
    st = container_status(pk.pod(name))
    return "running" in st["state"]


def _pid(pk: PK, pod: str, container: str | None = None) -> int | None:
    try:
        live = json.loads((pk.home / "containers.json").read_text())
    except (OSError, ValueError):
        return None
    for info in live.values():
        if info.get("pod") == pod and container in (None, info.get("container")):
            return int(info["pid"])
    return None


def _run_in(pk: PK, pod: str, *argv: str, container: str | None = None) -> Result:
    """Run `argv` in the container's mount namespace (the CLI has no `exec` yet; this is
    what `kubectl exec` sees of the filesystem)."""
    pid = pk.wait_for(f"{pod} pid", lambda: _pid(pk, pod, container), 30)
    proc = subprocess.run(
        ["nsenter", "-t", str(pid), "-m", "--", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _exec(pk: PK, pod: str, *argv: str, container: str | None = None) -> str:
    return _run_in(pk, pod, *argv, container=container).out


def _start(pk: PK) -> None:
    pk.run("up", "-d", "-f", str(pk.write("empty.yaml", [])), check=False)


def test_configmap_update_is_seen_without_a_restart(pk: PK) -> None:
    """A shell "web server" loop serves its ConfigMap file; an update appears in the
    running container (the AtomicWriter swap), while a subPath mount keeps the old
    content, and the files carry the kubelet's layout and modes."""
    seed(pk, configmap("web", **{"index.html": "v1", "other": "x"}))
    script = "while true; do cat /etc/web/index.html; echo; sleep 0.1; done"
    pod = pod_manifest(
        "web",
        [
            _c(
                "c",
                script,
                [
                    {"name": "cfg", "mountPath": "/etc/web"},
                    {
                        "name": "cfg",
                        "mountPath": "/etc/web-sub/index.html",
                        "subPath": "index.html",
                    },
                ],
            )
        ],
        volumes=[{"name": "cfg", "configMap": {"name": "web", "defaultMode": 0o640}}],
    )
    pk.up(pod)
    pk.wait_for("web running", lambda: _running(pk, "web"), 60)
    pk.wait_for("v1 served", lambda: "v1" in _logs(pk, "web"), 30)
    listing = _exec(pk, "web", "ls", "-la", "/etc/web/")
    assert "..data -> ..20" in listing and "index.html -> ..data/index.html" in listing
    assert _exec(pk, "web", "stat", "-L", "-c", "%a", "/etc/web/index.html").strip() == "640"
    restarts = container_status(pk.pod("web"))["restartCount"]
    seed(pk, configmap("web", **{"index.html": "v2"}))
    pk.wait_for("v2 served", lambda: "v2" in _logs(pk, "web").splitlines()[-3:], 30)
    assert container_status(pk.pod("web"))["restartCount"] == restarts
    # The key that went is gone; the subPath mount never updates (as in Kubernetes).
    assert "other" not in _exec(pk, "web", "ls", "/etc/web/")
    assert _exec(pk, "web", "cat", "/etc/web-sub/index.html") == "v1"
    # Read-only, always (configMap volumes are).
    out = _run_in(pk, "web", "sh", "-c", "echo x >/etc/web/new")
    assert out.code != 0 and "Read-only file system" in out.err


def test_emptydir_shared_readonly_and_removed_with_the_pod(pk: PK) -> None:
    pod = pod_manifest(
        "share",
        [
            _c(
                "writer",
                "echo hello-from-writer >/data/msg; sleep 3600",
                [{"name": "scratch", "mountPath": "/srv/pk-data"}],
                command=["sh", "-c", "echo hello-from-writer >/srv/pk-data/msg; sleep 3600"],
            ),
            _c(
                "reader",
                "sleep 3600",
                [{"name": "scratch", "mountPath": "/srv/pk-view", "readOnly": True}],
            ),
        ],
        volumes=[{"name": "scratch", "emptyDir": {}}],
    )
    pk.up(pod)
    pk.wait_for("both running", lambda: _running(pk, "share"), 60)

    def read() -> str:
        return _exec(pk, "share", "cat", "/srv/pk-view/msg", container="reader")

    pk.wait_for("reader sees the file", lambda: "hello-from-writer" in read(), 30)
    res = _run_in(pk, "share", "sh", "-c", "echo x >/srv/pk-view/y", container="reader")
    assert res.code != 0 and "Read-only file system" in res.err
    mode = _exec(pk, "share", "stat", "-c", "%a", "/srv/pk-data", container="writer")
    assert mode.strip() == "777"
    # Nothing of it on the host's own path.
    assert not os.path.exists("/srv/pk-data") and not os.path.exists("/srv/pk-view")
    uid = pk.pod("share")["metadata"]["uid"]
    vol = pk.home / "volumes" / "pods" / uid
    assert (vol / "volumes" / "kubernetes.io~empty-dir" / "scratch" / "msg").exists()
    pk.run("delete", "pod", "share", "--grace-period", "1")
    pk.wait_for("volume removed", lambda: not vol.exists(), 60)


def test_memory_emptydir_is_a_sized_tmpfs(pk: PK) -> None:
    pod = pod_manifest(
        "mem",
        [_c("c", "sleep 3600", [{"name": "m", "mountPath": "/srv/pk-mem"}])],
        volumes=[{"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}],
    )
    pk.up(pod)
    pk.wait_for("running", lambda: _running(pk, "mem"), 60)
    pid = pk.wait_for("pid", lambda: _pid(pk, "mem"), 30)

    def mem_mount() -> list[str]:
        info = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        return [x for x in info if " /srv/pk-mem " in x]

    line = pk.wait_for("tmpfs mounted", mem_mount, 30)
    assert line and " - tmpfs " in line[0] and "size=8192k" in line[0], line
    uid = pk.pod("mem")["metadata"]["uid"]
    pk.run("delete", "pod", "mem", "--grace-period", "1")
    pk.wait_for("pod gone", lambda: pk.run("get", "pod", "mem", check=False).code != 0, 60)
    mounts = Path("/proc/self/mountinfo").read_text()
    assert uid not in mounts


def test_missing_configmap_is_failed_mount_then_starts(pk: PK) -> None:
    pod = pod_manifest(
        "late",
        [_c("c", "cat /etc/late/k; sleep 3600", [{"name": "c", "mountPath": "/etc/late"}])],
        volumes=[{"name": "c", "configMap": {"name": "late"}}],
    )
    pk.up(pod)

    def failed_mount() -> bool:
        return any(
            e["reason"] == "FailedMount"
            and e["message"]
            == 'MountVolume.SetUp failed for volume "c" : configmap "late" not found'
            for e in pk.events("late")
        )

    pk.wait_for("FailedMount event", failed_mount, 30)
    st = container_status(pk.pod("late"))
    assert st["state"] == {"waiting": {"reason": "ContainerCreating"}}
    seed(pk, configmap("late", k="arrived"))
    pk.wait_for("started", lambda: "arrived" in _logs(pk, "late"), 60)


def test_secret_and_downward_api_and_projected(pk: PK) -> None:
    seed(pk, secret("creds", password="s3cr3t-value"))
    seed(pk, configmap("conf", mode="fast"))
    pod = pod_manifest(
        "mix",
        [
            _c(
                "c",
                "sleep 3600",
                [
                    {"name": "s", "mountPath": "/etc/pk-secret"},
                    {"name": "info", "mountPath": "/etc/pk-info"},
                    {"name": "all", "mountPath": "/etc/pk-all"},
                ],
                resources={"limits": {"cpu": "1250m", "memory": "64Mi"}},
            )
        ],
        volumes=[
            {"name": "s", "secret": {"secretName": "creds", "defaultMode": 0o400}},
            {
                "name": "info",
                "downwardAPI": {
                    "items": [
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                        {
                            "path": "cpu_limit",
                            "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu"},
                        },
                    ]
                },
            },
            {
                "name": "all",
                "projected": {
                    "sources": [
                        {"configMap": {"name": "conf"}},
                        {"secret": {"name": "creds", "items": [{"key": "password", "path": "p"}]}},
                        {
                            "downwardAPI": {
                                "items": [
                                    {"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}
                                ]
                            }
                        },
                    ]
                },
            },
        ],
    )
    pod["metadata"]["labels"] = {"app": "mix"}
    pk.up(pod)
    pk.wait_for("running", lambda: _running(pk, "mix"), 60)
    # Running is reported once the container's setup shell is spawned; its mounts follow.
    pk.wait_for(
        "mounts", lambda: _exec(pk, "mix", "cat", "/etc/pk-secret/password") == "s3cr3t-value", 30
    )
    assert _exec(pk, "mix", "stat", "-L", "-c", "%a", "/etc/pk-secret/password").strip() == "400"
    assert _exec(pk, "mix", "cat", "/etc/pk-info/labels") == 'app="mix"'
    assert _exec(pk, "mix", "cat", "/etc/pk-info/name") == "mix"
    assert _exec(pk, "mix", "cat", "/etc/pk-info/cpu_limit") == "2"
    out = _exec(pk, "mix", "sh", "-c", "cat /etc/pk-all/mode /etc/pk-all/p /etc/pk-all/ns")
    assert out == "fasts3cr3t-valuedefault"
    # Labels change -> the downward file follows.
    pod["metadata"]["labels"] = {"app": "mix", "v": "2"}
    pk.up(pod)
    pk.wait_for(
        "labels updated",
        lambda: _exec(pk, "mix", "cat", "/etc/pk-info/labels") == 'app="mix"\nv="2"',
        30,
    )
    # The secret's value is never in events or describe.
    text = pk.run("describe", "pod", "mix").out + json.dumps(pk.events())
    assert "s3cr3t-value" not in text


def test_hostpath_types_and_warning(pk: PK, tmp_path: Path) -> None:
    host_dir = tmp_path / "shared"
    host_dir.mkdir()
    (host_dir / "hello").write_text("from-host")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    ok = pod_manifest(
        "hp",
        [
            _c(
                "c",
                "cat /srv/pk-host/hello; sleep 3600",
                [{"name": "h", "mountPath": "/srv/pk-host"}],
            )
        ],
        volumes=[{"name": "h", "hostPath": {"path": str(host_dir), "type": "Directory"}}],
    )
    bad = pod_manifest(
        "hp-bad",
        [_c("c", "sleep 3600", [{"name": "h", "mountPath": "/srv/pk-host"}])],
        volumes=[{"name": "h", "hostPath": {"path": str(a_file), "type": "Directory"}}],
    )
    pk.up(ok, bad)
    pk.wait_for("hp served", lambda: "from-host" in _logs(pk, "hp"), 60)
    assert any(e["reason"] == "HostPathVolume" for e in pk.events("hp"))
    want = (
        f'MountVolume.SetUp failed for volume "h" : hostPath type check failed: '
        f"{a_file} is not a directory"
    )
    pk.wait_for(
        "type refused",
        lambda: any(e["message"] == want for e in pk.events("hp-bad")),
        30,
    )
    assert "waiting" in container_status(pk.pod("hp-bad"))["state"]


def test_subpath_symlink_escape_is_refused(pk: PK, tmp_path: Path) -> None:
    """A container plants a symlink to / in a shared emptyDir; a later container's subPath
    through it must not expose the host (kubelet subpath_linux.go)."""
    pod = pod_manifest(
        "esc",
        [
            _c(
                "c",
                "sleep 3600",
                [{"name": "d", "mountPath": "/srv/pk-esc", "subPath": "evil"}],
            )
        ],
        initContainers=[
            _c(
                "plant",
                "ln -s / /srv/pk-d/evil",
                [{"name": "d", "mountPath": "/srv/pk-d"}],
            )
        ],
        volumes=[{"name": "d", "emptyDir": {}}],
    )
    pk.up(pod)
    want = 'failed to prepare subPath for volumeMount "d" of container "c"'

    def refused() -> bool:
        st = container_status(pk.pod("esc"), "c")
        w = st["state"].get("waiting") or {}
        return w.get("reason") == "CreateContainerConfigError" and w.get("message") == want

    pk.wait_for("subPath refused", refused, 60)


def test_subpath_expr_and_pvc_dir(pk: PK) -> None:
    pod = pod_manifest(
        "sub",
        [
            _c(
                "c",
                "echo data >/srv/pk-logs/f; sleep 3600",
                [
                    {"name": "d", "mountPath": "/srv/pk-logs", "subPathExpr": "$(POD_NAME)"},
                    {"name": "d", "mountPath": "/srv/pk-whole"},
                    {"name": "claim", "mountPath": "/srv/pk-claim"},
                ],
                env=[
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                ],
            )
        ],
        volumes=[
            {"name": "d", "emptyDir": {}},
            {"name": "claim", "persistentVolumeClaim": {"claimName": "data-0"}},
        ],
    )
    pk.up(pod)
    pk.wait_for("running", lambda: _running(pk, "sub"), 60)
    pk.wait_for(
        "subPathExpr dir", lambda: _exec(pk, "sub", "cat", "/srv/pk-whole/sub/f") == "data\n", 30
    )
    assert _run_in(pk, "sub", "sh", "-c", "echo kept >/srv/pk-claim/x").code == 0
    claim = pk.home / "volumes" / "pvc" / "default" / "data-0"
    assert (claim / "x").read_text() == "kept\n"
    assert oct(claim.stat().st_mode & 0o777) == "0o700"
    pk.run("delete", "pod", "sub", "--grace-period", "1")
    pk.wait_for("pod gone", lambda: pk.run("get", "pod", "sub", check=False).code != 0, 60)
    assert (claim / "x").read_text() == "kept\n"


def test_configmap_update_latency(pk: PK) -> None:
    """Time from `podkeeper up` of a changed ConfigMap to the new content inside the
    container (printed): from the command's start (its own ~0.3 s Python start-up
    included) and from its return."""
    seed(pk, configmap("lat", v="0"))
    pod = pod_manifest(
        "lat",
        [_c("c", "sleep 3600", [{"name": "c", "mountPath": "/etc/pk-lat"}])],
        volumes=[{"name": "c", "configMap": {"name": "lat"}}],
    )
    pk.up(pod)
    pk.wait_for("running", lambda: _running(pk, "lat"), 60)
    # Read through the container's own mount namespace (its PID 1's root), without the
    # cost of a process per poll.
    pid = pk.wait_for("pid", lambda: _pid(pk, "lat"), 30)
    path = f"/proc/{pid}/root/etc/pk-lat/v"
    total: list[float] = []
    after: list[float] = []
    for i in range(1, 11):
        t0 = time.monotonic()
        seed(pk, configmap("lat", v=str(i)))
        t1 = time.monotonic()
        deadline = t0 + 30
        while time.monotonic() < deadline:
            try:
                if Path(path).read_text() == str(i):
                    break
            except OSError:
                pass
            time.sleep(0.002)
        else:
            raise AssertionError(f"update {i} not seen within 30 s")
        total.append(time.monotonic() - t0)
        after.append(time.monotonic() - t1)
    print(
        f"\nconfigMap update -> visible in container: from `up` start median"
        f" {statistics.median(total):.3f}s max {max(total):.3f}s; from its return median"
        f" {statistics.median(after):.3f}s max {max(after):.3f}s (n={len(total)})"
    )
    assert max(after) < 5


def test_top_level_mount_path_and_working_dir_in_a_volume(pk: PK) -> None:
    """`/data` (no such folder on the host) works on the process runtime: the container
    gets a new root with the folder, the host's `/` stays untouched; workingDir inside
    the volume is entered after the mounts; a nested read-only mount refuses writes."""
    assert not os.path.exists("/pk-data-top")
    script = (
        "pwd; echo hi >/pk-data-top/x && cat /pk-data-top/x;"
        " echo no >/pk-data-top/ro/y || echo REFUSED; cat /etc/hosts | head -1; sleep 3600"
    )
    pod = pod_manifest(
        "top",
        [
            _c(
                "c",
                script,
                [
                    {"name": "d", "mountPath": "/pk-data-top"},
                    {"name": "e", "mountPath": "/pk-data-top/ro", "readOnly": True},
                ],
                workingDir="/pk-data-top",
            )
        ],
        volumes=[{"name": "d", "emptyDir": {}}, {"name": "e", "emptyDir": {}}],
    )
    pk.up(pod)
    pk.wait_for("output", lambda: "REFUSED" in _logs(pk, "top"), 60)
    lines = _logs(pk, "top").splitlines()
    assert lines[0] == "/pk-data-top" and "hi" in lines
    assert "# Kubernetes-managed hosts file." in lines
    assert not os.path.exists("/pk-data-top")
    assert _exec(pk, "top", "cat", "/pk-data-top/x") == "hi\n"


def unseed(pk: PK, kind: str, name: str) -> None:
    """Delete a ConfigMap/Secret through the CLI."""
    pk.run("delete", kind.lower(), name)


def test_optional_updates_and_non_root_access(pk: PK) -> None:
    """CV9 (optional ConfigMaps appear, change and vanish in running volumes), SV3
    (non-root, defaultMode 0440 + fsGroup: -r--r----- and still readable), ED (a non-root
    container writes a 0666 file on a tmpfs emptyDir)."""
    seed(pk, configmap("delete", **{"data-1": "value-1"}))
    seed(pk, configmap("update", **{"data-1": "value-1"}))
    seed(pk, secret("s", **{"data-1": "value-1"}))
    loop = (
        "while true; do for f in /srv/pk-cm/create/data-1 /srv/pk-cm/update/data-3"
        " /srv/pk-cm/delete/data-1; do { cat $f && echo; } 2>/dev/null || echo missing; done;"
        " echo --; sleep 0.2; done"
    )
    mounts = [{"name": n, "mountPath": f"/srv/pk-cm/{n}"} for n in ("create", "update", "delete")]
    mounts += [
        {"name": "s", "mountPath": "/srv/pk-secret"},
        {"name": "m", "mountPath": "/srv/pk-mem"},
    ]
    pod = pod_manifest(
        "opt",
        [_c("c", loop, mounts)],
        securityContext={"runAsUser": 1000, "fsGroup": 1001},
        volumes=[
            *(
                {"name": n, "configMap": {"name": n, "optional": True}}
                for n in ("create", "update", "delete")
            ),
            {"name": "s", "secret": {"secretName": "s", "defaultMode": 0o440}},
            {"name": "m", "emptyDir": {"medium": "Memory"}},
        ],
    )
    pk.up(pod)

    def last_round() -> list[str]:
        rounds = _logs(pk, "opt").split("--\n")
        return rounds[-2].splitlines() if len(rounds) > 2 else []

    pk.wait_for("first round", lambda: last_round() == ["missing", "missing", "value-1"], 60)
    assert _exec(pk, "opt", "stat", "-L", "-c", "%a %g", "/srv/pk-secret/data-1") == "440 1001\n"
    pid = pk.wait_for("pid", lambda: _pid(pk, "opt"), 30)
    out = subprocess.run(
        [
            "nsenter",
            "-t",
            str(pid),
            "-m",
            "--",
            "setpriv",
            "--reuid=1000",
            "--regid=1000",
            "--groups=1001",
            "sh",
            "-c",
            "cat /srv/pk-secret/data-1; umask 0; echo x >/srv/pk-mem/f && stat -c %a /srv/pk-mem/f",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.stdout == "value-1666\n", out
    unseed(pk, "ConfigMap", "delete")
    seed(pk, configmap("update", **{"data-3": "value-3"}))
    seed(pk, configmap("create", **{"data-1": "value-1"}))
    pk.wait_for("updates", lambda: last_round() == ["value-1", "value-3", "missing"], 30)


def test_statefulset_claim_is_mounted_and_outlives_its_pod(pk: PK) -> None:
    """A StatefulSet's claim (contract 2: `volumes/pvc/<ns>/<claim>`) is mounted into its
    pod; what the pod wrote there is seen by the pod that replaces it."""
    script = (
        "cat /srv/pk-sts/count 2>/dev/null || echo none;"
        " echo $(( $(cat /srv/pk-sts/count 2>/dev/null || echo 0) + 1 )) >/srv/pk-sts/count;"
        " sleep 3600"
    )
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 1,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [_c("c", script, [{"name": "data", "mountPath": "/srv/pk-sts"}])],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }
    pk.up(sts)
    pk.wait_for("first pod", lambda: _logs(pk, "db-0").startswith("none"), 90)
    claim = pk.home / "volumes" / "pvc" / "default" / "data-db-0"
    pk.wait_for("written", lambda: (claim / "count").exists(), 30)
    uid = pk.pod("db-0")["metadata"]["uid"]
    pk.run("delete", "pod", "db-0")

    def second() -> bool:
        res = pk.run("get", "pod", "db-0", "-o", "json", check=False)
        if res.code != 0 or json.loads(res.out)["metadata"]["uid"] == uid:
            return False
        return _logs(pk, "db-0").startswith("1")

    pk.wait_for("replacement reads the claim", second, 90)
    pk.run("delete", "statefulset", "db")
