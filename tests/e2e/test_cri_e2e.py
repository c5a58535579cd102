"""End to end on the containerd runtime: image pods through the real CLI and agent.

`podkeeper image import` the busybox-built test images, then the docs' manifests
with local image names: an nginx-like Deployment, and exec / httpGet / tcpSocket
liveness pods that restart as on Kubernetes; OOMKilled and exit codes; logs;
and `down` leaves no containerd, shim, netns, bridge or cgroup behind.
Skips without root, containerd, runc, the CNI plugins or busybox-static."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podkeeper.runtime.cri.containerd import ManagedContainerd, reap_home, unavailable_reason
from podkeeper.runtime.cri.testimages import (
    BUSYBOX_IMAGE,
    GOPROXY_IMAGE,
    HTTPD_IMAGE,
    LIVENESS_IMAGE,
    build_all,
    busybox_available,
)

from .conftest import PK, container_status, is_ready, pod_manifest

pytestmark = [pytest.mark.e2e, pytest.mark.root]

_SKIP = unavailable_reason() or busybox_available()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if _SKIP:
        pytest.skip(_SKIP)
    try:
        return build_all(tmp_path_factory.mktemp("images"))
    except RuntimeError as err:
        pytest.skip(str(err))


@pytest.fixture
def cpk(pk: PK, images: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[PK]:
    """A home whose agent runs the containerd runtime, with the test images imported."""
    monkeypatch.setenv("PODKEEPER_RUNTIME", "containerd")
    out = pk.run("image", "import", *(str(p) for p in images.values()), timeout=120).out
    for name in images:
        assert f"imported {name}" in out
    yield pk
    managed = ManagedContainerd(pk.home)
    pk.run("down", timeout=120, check=False)
    if managed.shim_pids() or (managed.dir / "containerd.pid").exists():
        asyncio.run(reap_home(pk.home))  # the agent died: clean up as its successor would
        raise AssertionError("down did not stop the agent's containerd")
    # Nothing left behind by `down`.
    assert managed.shim_pids() == []
    assert not os.path.exists(f"/sys/class/net/{managed.bridge}")
    assert not managed._cgroup_dirs()
    assert not managed.socket.exists()


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for init to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _http(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return int(r.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_image_commands_and_version(cpk: PK) -> None:
    ls = cpk.run("image", "ls").out
    assert "podkeeper.local/httpd" in ls and "registry.k8s.io/pause" in ls
    assert "runtime containerd" in cpk.run("version").out
    cpk.run("image", "rm", GOPROXY_IMAGE)
    assert "goproxy" not in cpk.run("image", "ls").out
    missing = cpk.run("image", "rm", GOPROXY_IMAGE, check=False)
    assert missing.code == 1 and "no such image" in missing.err


def test_nginx_like_deployment_runs_from_an_image(cpk: PK) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": HTTPD_IMAGE,
                            "ports": [{"containerPort": 80}],
                            "readinessProbe": {
                                "httpGet": {"path": "/", "port": 80},
                                "periodSeconds": 1,
                            },
                        }
                    ]
                },
            },
        },
    }
    cpk.up(deployment, wait=True, timeout="90s")
    pods = json.loads(cpk.run("get", "pods", "-o", "json").out)["items"]
    assert len(pods) == 3 and all(is_ready(p) for p in pods)
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 3 and "127.0.0.1" not in ips
    for ip in ips:
        assert _http(f"http://{ip}:80/") == 200
    wide = cpk.run("get", "pods", "-o", "wide").out
    assert all(ip in wide for ip in ips)
    described = cpk.run("describe", "pod", pods[0]["metadata"]["name"]).out
    assert "containerd://" in described


def test_exec_http_tcp_liveness_pods_restart(cpk: PK) -> None:
    exec_pod = pod_manifest(
        "liveness-exec",
        [
            {
                "name": "liveness",
                "image": BUSYBOX_IMAGE,
                "args": [
                    "/bin/sh",
                    "-c",
                    "touch /tmp/healthy; sleep 4; rm -f /tmp/healthy; sleep 600",
                ],
                "livenessProbe": {
                    "exec": {"command": ["cat", "/tmp/healthy"]},
                    "initialDelaySeconds": 1,
                    "periodSeconds": 1,
                },
            }
        ],
    )
    http_pod = pod_manifest(
        "liveness-http",
        [
            {
                "name": "liveness",
                "image": LIVENESS_IMAGE,
                "args": ["/server"],
                "livenessProbe": {
                    "httpGet": {
                        "path": "/healthz",
                        "port": 8080,
                        "httpHeaders": [{"name": "Custom-Header", "value": "Awesome"}],
                    },
                    "initialDelaySeconds": 3,
                    "periodSeconds": 3,
                },
            }
        ],
        terminationGracePeriodSeconds=30,
    )
    tcp_pod = pod_manifest(
        "goproxy",
        [
            {
                "name": "goproxy",
                "image": GOPROXY_IMAGE,
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                # The wrong port: the liveness probe fails and the container restarts.
                "livenessProbe": {
                    "tcpSocket": {"port": 8081},
                    "initialDelaySeconds": 2,
                    "periodSeconds": 1,
                },
            }
        ],
    )
    cpk.up(exec_pod, http_pod, tcp_pod)

    def restarted(name: str) -> dict[str, Any] | None:
        st = container_status(cpk.pod(name))
        return st if st["restartCount"] >= 1 and st.get("lastState", {}).get("terminated") else None

    st = cpk.wait_for("liveness-exec restart", lambda: restarted("liveness-exec"), 60)
    # sh as PID 1 ignores SIGTERM: killed after the 2 s grace.
    assert st["lastState"]["terminated"]["exitCode"] == 137
    st = cpk.wait_for("goproxy restart", lambda: restarted("goproxy"), 60)
    assert st["lastState"]["terminated"]["exitCode"] == 143  # a Go server dies of SIGTERM
    st = cpk.wait_for("liveness-http restart", lambda: restarted("liveness-http"), 90)
    assert st["lastState"]["terminated"]["exitCode"] == 143
    messages = [e["message"] for e in cpk.events("liveness-exec")]
    assert any(
        m.startswith("Liveness probe failed: cat: can't open '/tmp/healthy'") for m in messages
    ), messages
    assert "Container liveness failed liveness probe, will be restarted" in messages
    http_msgs = [e["message"] for e in cpk.events("liveness-http")]
    assert "Liveness probe failed: HTTP probe failed with statuscode: 500" in http_msgs
    tcp_msgs = [e["message"] for e in cpk.events("goproxy")]
    assert any("Liveness probe failed: dial tcp" in m for m in tcp_msgs), tcp_msgs


def test_oom_exit_codes_and_logs(cpk: PK) -> None:
    oom = pod_manifest(
        "hog",
        [
            {
                "name": "hog",
                "image": BUSYBOX_IMAGE,
                "command": ["sh", "-c", "echo filling; tail /dev/zero"],
                "resources": {"limits": {"memory": "16Mi"}},
            }
        ],
        restartPolicy="Never",
    )
    failing = pod_manifest(
        "fails",
        [{"name": "app", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", "echo bye >&2; exit 3"]}],
        restartPolicy="Never",
    )
    cpk.up(oom, failing)

    def terminated(name: str) -> dict[str, Any] | None:
        return container_status(cpk.pod(name))["state"].get("terminated")

    t = cpk.wait_for("hog OOMKilled", lambda: terminated("hog"), 60)
    assert (t["reason"], t["exitCode"]) == ("OOMKilled", 137)
    t = cpk.wait_for("fails terminated", lambda: terminated("fails"), 60)
    assert (t["reason"], t["exitCode"]) == ("Error", 3)
    assert cpk.run("logs", "fails").out == "bye\n"
    assert "filling" in cpk.run("logs", "hog").out
    explain = cpk.run("explain", "pod", "hog", check=False).out
    assert "OOM" in explain or "memory" in explain.lower()


def test_image_pull_failures_read_as_the_kubelets(cpk: PK) -> None:
    def pod(name: str, image: str, policy: str) -> dict[str, Any]:
        return pod_manifest(
            name,
            [{"name": "app", "image": image, "imagePullPolicy": policy, "command": ["true"]}],
        )

    cpk.up(
        pod("unreachable", "podkeeper.invalid/nope:1", "IfNotPresent"),
        pod("never", "podkeeper.local/absent:1", "Never"),
        pod("invalid", "NGINX", "IfNotPresent"),
        pod("always", BUSYBOX_IMAGE, "Always"),
    )

    def waiting(name: str, reasons: tuple[str, ...]) -> dict[str, Any] | None:
        w = container_status(cpk.pod(name))["state"].get("waiting")
        return w if w and w.get("reason") in reasons else None

    w = cpk.wait_for("ImagePullBackOff", lambda: waiting("unreachable", ("ImagePullBackOff",)), 60)
    assert w["message"] == 'Back-off pulling image "podkeeper.invalid/nope:1"'
    msgs = [(e["reason"], e["message"]) for e in cpk.events("unreachable")]
    assert ("Pulling", 'Pulling image "podkeeper.invalid/nope:1"') in msgs
    assert any(
        r == "Failed" and m.startswith('Failed to pull image "podkeeper.invalid/nope:1": rpc error')
        for r, m in msgs
    ), msgs
    assert ("Failed", "Error: ErrImagePull") in msgs
    assert not any(r in ("Pulled", "Created", "Started") for r, _ in msgs)
    w = cpk.wait_for("ErrImageNeverPull", lambda: waiting("never", ("ErrImageNeverPull",)), 30)
    assert (
        w["message"]
        == 'Container image "podkeeper.local/absent:1" is not present with pull policy of Never'
    )
    w = cpk.wait_for("InvalidImageName", lambda: waiting("invalid", ("InvalidImageName",)), 30)
    assert "invalid reference format" in w["message"]
    # Always with no registry: the pull fails even though the image is present.
    cpk.wait_for(
        "ErrImagePull", lambda: waiting("always", ("ErrImagePull", "ImagePullBackOff")), 30
    )
    assert all(cpk.pod(n)["status"]["phase"] == "Pending" for n in ("always", "never", "invalid"))
    table = cpk.run("get", "pods").out
    assert "ImagePullBackOff" in table and "ErrImageNeverPull" in table


def test_a_new_agent_cleans_up_after_one_killed_abruptly(cpk: PK) -> None:
    """The containerd and pods of a SIGKILLed agent outlive it; the next agent restarts
    containerd (which reconnects to the shims) and either takes the pods' containers over
    (an agent with `ContainerRuntime.adopt`, as a restarted kubelet does) or removes their
    sandboxes and runs the pods again."""
    from podkeeper.runtime.interface import ContainerRuntime

    adopting = hasattr(ContainerRuntime, "adopt")
    app = pod_manifest(
        "survivor", [{"name": "app", "image": BUSYBOX_IMAGE, "command": ["sleep", "3600"]}]
    )
    cpk.up(app, wait=True, timeout="60s")
    before = container_status(cpk.pod("survivor"))["containerID"]
    managed = ManagedContainerd(cpk.home)
    old_shims = managed.shim_pids()
    assert old_shims
    pid = cpk.agent_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    cpk.wait_for("the agent gone", lambda: not os.path.exists(f"/proc/{pid}"), 10)
    other = pod_manifest(
        "newcomer", [{"name": "app", "image": BUSYBOX_IMAGE, "command": ["sleep", "3600"]}]
    )
    cpk.up(other, wait=True, timeout="60s")
    cpk.wait_for("survivor running", lambda: is_ready(cpk.pod("survivor")), 60)
    st = container_status(cpk.pod("survivor"))
    if adopting:
        assert (st["containerID"], st["restartCount"]) == (before, 0)
        assert all(_running(p) for p in old_shims)  # the same containers, taken over
    else:
        assert not any(_running(p) for p in old_shims)
        log = (cpk.home / "agent.log").read_text()
        assert "removed pod sandbox" in log and "of pod default/survivor" in log


def test_cri_runtime_uses_an_existing_endpoint_and_leaves_it_running(
    pk: PK, images: dict[str, Path], tmp_path: Path
) -> None:
    """`--runtime cri --cri-endpoint`: the agent drives a containerd it does not own."""
    from podkeeper.runtime.cri import CriClient
    from podkeeper.runtime.cri._gen import api_pb2 as pb

    external = ManagedContainerd(tmp_path / "ext")
    asyncio.run(external.start())
    try:
        for tar in images.values():
            import subprocess

            subprocess.run(
                ["ctr", "-a", str(external.socket), "-n", "k8s.io", "images", "import", str(tar)],
                check=True,
                capture_output=True,
            )
        app = pod_manifest(
            "on-cri", [{"name": "app", "image": HTTPD_IMAGE, "ports": [{"containerPort": 80}]}]
        )
        path = pk.write("cri.yaml", [app])
        pk.run(
            "up",
            "-d",
            "--wait",
            "--timeout",
            "60s",
            "--runtime",
            "cri",
            "--cri-endpoint",
            external.endpoint,
            "-f",
            str(path),
            timeout=120,
        )
        assert "runtime cri" in pk.run("version").out
        pod = pk.pod("on-cri")
        assert container_status(pod)["containerID"].startswith("cri://")
        assert _http(f"http://{pod['status']['podIP']}:80/") == 200
        again = pk.run("up", "-d", "--runtime", "process", "-f", str(path))
        assert "already runs the cri runtime" in again.err
        pk.run("down", timeout=120)
        assert external.pid is not None and _running(external.pid)

        async def sandboxes() -> int:
            client = CriClient(external.endpoint)
            try:
                listed = await client.call("ListPodSandbox", pb.ListPodSandboxRequest())
                return len(listed.items)
            finally:
                await client.close()

        assert asyncio.run(sandboxes()) == 0
        from podkeeper.runtime.cri.containerd import cgroup_dirs, home_tag

        assert cgroup_dirs(f"/pkcri-{home_tag(str(pk.home))}") == []
    finally:
        asyncio.run(external.stop())


def test_termination_message_path_is_mounted_per_instance(cpk: PK) -> None:
    # The agent-owned message file (podkeeper.runtime.message) is what the runtime mounts.
    app = pod_manifest(
        "msg",
        [
            {
                "name": "app",
                "image": BUSYBOX_IMAGE,
                "command": ["sh", "-c", "echo -n 'disk full' > /dev/termination-log; exit 1"],
            },
            {
                "name": "custom",
                "image": BUSYBOX_IMAGE,
                "terminationMessagePath": "/tmp/why",
                "command": ["sh", "-c", "echo -n custom > /tmp/why; exit 2"],
            },
            {
                "name": "fallback",
                "image": BUSYBOX_IMAGE,
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "command": ["sh", "-c", "echo last words; exit 3"],
            },
        ],
        restartPolicy="Never",
    )
    cpk.up(app)

    def terminated(c: str) -> dict[str, Any] | None:
        return container_status(cpk.pod("msg"), c)["state"].get("terminated")

    assert cpk.wait_for("app", lambda: terminated("app"), 60)["message"] == "disk full"
    assert cpk.wait_for("custom", lambda: terminated("custom"), 60)["message"] == "custom"
    assert cpk.wait_for("fallback", lambda: terminated("fallback"), 60)["message"] == "last words\n"


def test_deployment_rolls_out_behind_its_service_with_zero_failed_requests(cpk: PK) -> None:
    import socket
    import threading

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def deployment(version: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 5,
                        "containers": [
                            {
                                "name": "web",
                                "image": HTTPD_IMAGE,
                                "env": [{"name": "VERSION", "value": version}],
                                "ports": [{"name": "http", "containerPort": 80}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/", "port": "http"},
                                    "periodSeconds": 1,
                                },
                            }
                        ],
                    },
                },
            },
        }

    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": port, "targetPort": "http"}]},
    }
    cpk.up(deployment("v1"), svc, wait=True, timeout="90s")
    cpk.wait_for("the service answers", lambda: _http(f"http://127.0.0.1:{port}/") == 200, 30)
    results: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                results.append(_http(f"http://127.0.0.1:{port}/"))
            except OSError:
                results.append(0)

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        path = cpk.write("v2.yaml", [deployment("v2")])
        cpk.run("apply", "-f", str(path))

        def rolled() -> bool:
            pods = json.loads(cpk.run("get", "pods", "-o", "json").out)["items"]
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            envs = [p["spec"]["containers"][0]["env"][0]["value"] for p in live if is_ready(p)]
            return len(live) == 2 and envs == ["v2", "v2"]

        cpk.wait_for("the rollout", rolled, 120, interval=0.5)
        import time as _time

        _time.sleep(2)  # the old pods' termination, under load
    finally:
        stop.set()
        worker.join()
    assert len(results) > 50
    failed = [r for r in results if r != 200]
    assert failed == [], f"{len(failed)} of {len(results)} requests failed"


def test_init_containers_sidecars_and_exec_hooks_run_in_the_containers(cpk: PK) -> None:
    app = pod_manifest(
        "hooks",
        [
            {
                "name": "app",
                "image": BUSYBOX_IMAGE,
                "command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"],
                "lifecycle": {
                    "postStart": {"exec": {"command": ["sh", "-c", "echo started > /tmp/hook"]}},
                    "preStop": {
                        "exec": {"command": ["sh", "-c", "echo stopping > /proc/1/fd/1; sleep 3"]}
                    },
                },
                "readinessProbe": {
                    "exec": {"command": ["grep", "-q", "started", "/tmp/hook"]},
                    "periodSeconds": 1,
                },
            }
        ],
        initContainers=[
            {"name": "init", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", "echo init done"]},
            {
                "name": "sidecar",
                "image": BUSYBOX_IMAGE,
                "restartPolicy": "Always",
                "command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"],
            },
        ],
    )
    cpk.up(app, wait=True, timeout="60s")
    pod = cpk.pod("hooks")
    inits = {s["name"]: s for s in pod["status"]["initContainerStatuses"]}
    assert inits["init"]["state"]["terminated"]["reason"] == "Completed"
    assert "running" in inits["sidecar"]["state"]
    assert cpk.run("logs", "hooks", "-c", "init").out == "init done\n"
    import subprocess
    import sys

    deleting = subprocess.Popen(
        [sys.executable, "-m", "podkeeper", "--home", str(cpk.home), "delete", "pod", "hooks"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # preStop runs inside the container: its echo goes to the container's own stdout.
        cpk.wait_for(
            "preStop's output",
            lambda: "stopping" in cpk.run("logs", "hooks", "-c", "app", check=False).out,
            30,
        )
    finally:
        deleting.wait(90)


def test_a_sandbox_that_cannot_be_created_is_retried_with_the_kubelets_event(
    pk: PK, images: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODKEEPER_RUNTIME", "containerd")
    from podkeeper.runtime.cri.testimages import PAUSE_IMAGE

    # Everything but the sandbox (pause) image: RunPodSandbox fails (no registry).
    tars = [str(p) for name, p in images.items() if name != PAUSE_IMAGE]
    pk.run("image", "import", *tars, timeout=120)
    try:
        app = pod_manifest(
            "patient", [{"name": "app", "image": BUSYBOX_IMAGE, "command": ["sleep", "600"]}]
        )
        pk.up(app)

        def failed_event() -> list[str]:
            return [
                e["message"]
                for e in pk.events("patient")
                if e["reason"] == "FailedCreatePodSandBox"
            ]

        msgs = pk.wait_for("FailedCreatePodSandBox", failed_event, 30)
        assert msgs[0].startswith("Failed to create pod sandbox: rpc error: code = ")
        assert "podkeeper image import" in msgs[0]  # says what to do
        assert pk.pod("patient")["status"]["phase"] == "Pending"
        # The image arrives: the next retry (10 s) creates the sandbox and the pod runs.
        pk.run("image", "import", str(images[PAUSE_IMAGE]))
        pk.wait_for("the pod running", lambda: is_ready(pk.pod("patient")), 40)
    finally:
        pk.run("down", timeout=120, check=False)
        asyncio.run(reap_home(pk.home))


def test_kubectl_exec_runs_through_cri_exec_sync(cpk: PK) -> None:
    """`kubectl exec` on an image pod: the command runs in the container (its filesystem,
    its hostname) through ExecSync; with -i, stdin streamed and closed at its end; output
    and exit code as kubectl shows."""
    import shutil
    import subprocess

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    cmd = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
    cpk.up(pod_manifest("shell", [{"name": "c", "image": BUSYBOX_IMAGE, "command": cmd}]))
    cpk.wait_for("shell Ready", lambda: is_ready(cpk.pod("shell")), 90)
    env = dict(os.environ, KUBECONFIG=str(cpk.home / "kubeconfig"))

    def kubectl_exec(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kubectl, "exec", "shell", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            stdin=subprocess.DEVNULL,
        )

    script = "hostname; test -e /work && echo host || echo image; echo err >&2"
    out = kubectl_exec("--", "sh", "-c", script)
    assert out.returncode == 0, out.stderr
    # the pod's UTS namespace and the image's filesystem, not the host's
    assert out.stdout.split() == ["shell", "image"], out.stdout
    assert "err" in out.stderr
    failed = kubectl_exec("--", "sh", "-c", "exit 7")
    assert failed.returncode == 7, failed.stderr
    # -i: stdin streamed into the container and closed at its end (`cat` returns).
    piped = subprocess.run(
        [kubectl, "exec", "-i", "shell", "--", "sh", "-c", "cat; hostname; exit 5"],
        input="hello from stdin\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert piped.returncode == 5, piped.stderr
    assert piped.stdout.split("\n")[:2] == ["hello from stdin", "shell"], piped.stdout


def test_runtime_class_runs_host_binaries_beside_images(cpk: PK) -> None:
    """spec.runtimeClassName on a containerd agent: `podkeeper-containerd` (the default)
    runs from its image; `podkeeper-process` runs the host's binary as a host process in
    the same agent (runtime/runtimes.py); describe names the class. On both runtimes the
    UTS hostname is spec.hostname, else the pod name (GeneratePodHostNameAndDomain)."""
    script = "test -e /work && echo host || echo image; hostname; sleep 3600"
    sh = {"name": "app", "image": BUSYBOX_IMAGE, "command": ["sh", "-c", script]}
    cpk.up(
        pod_manifest("img", [sh], runtimeClassName="podkeeper-containerd", hostname="imgbox"),
        pod_manifest("host", [sh], runtimeClassName="podkeeper-process", hostname="hostbox"),
        pod_manifest("plain", [sh]),
    )
    for name in ("img", "host", "plain"):
        cpk.wait_for(f"{name} running", lambda n=name: is_ready(cpk.pod(n)), timeout=90)
    ids = {n: container_status(cpk.pod(n))["containerID"] for n in ("img", "host", "plain")}
    assert ids["img"].startswith("containerd://") and ids["plain"].startswith("containerd://")
    assert ids["host"].startswith("podkeeper://"), ids
    cpk.wait_for("logs", lambda: cpk.run("logs", "host").out.split() == ["host", "hostbox"], 30)
    assert cpk.run("logs", "img").out.split() == ["image", "imgbox"]
    assert cpk.run("logs", "plain").out.split() == ["image", "plain"]
    assert "Runtime Class Name:  podkeeper-process" in cpk.run("describe", "pod", "host").out
    assert "Runtime Class Name" not in cpk.run("describe", "pod", "plain").out
    assert "runtime containerd, also process" in cpk.run("version").out


def test_a_process_agent_runs_image_pods_beside_host_binaries(
    pk: PK, images: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent whose default is the process runtime opens its private containerd for
    `image import` and for pods of the `podkeeper-containerd` class only: host-binary and
    image pods side by side; a SIGKILLed agent's successor takes both over (no restart);
    `down` leaves neither containerd nor sandbox."""
    monkeypatch.setenv("PODKEEPER_RUNTIME", "process")
    host = pod_manifest("host", [{"name": "app", "image": "x", "command": ["sleep", "3600"]}])
    pk.up(host, wait=True, timeout="60s")
    managed = ManagedContainerd(pk.home)
    assert not managed.config_path.exists()  # no image pod yet: no containerd either
    assert "also" not in pk.run("version").out
    out = pk.run("image", "import", *(str(p) for p in images.values()), timeout=120).out
    assert f"imported {BUSYBOX_IMAGE}" in out
    assert "runtime process, also containerd" in pk.run("version").out
    sleep = {"name": "app", "image": BUSYBOX_IMAGE, "command": ["sleep", "3600"]}
    try:
        pk.up(pod_manifest("img", [sleep], runtimeClassName="podkeeper-containerd"))
        pk.wait_for("img Ready", lambda: is_ready(pk.pod("img")), timeout=90)
        before = {n: container_status(pk.pod(n))["containerID"] for n in ("host", "img")}
        assert before["img"].startswith("containerd://"), before
        assert before["host"].startswith("podkeeper://"), before
        ip = pk.pod("img")["status"]["podIP"]
        assert ipaddress.ip_address(ip) in managed.subnet  # from containerd's CNI network
        pid = pk.agent_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        pk.wait_for("the agent gone", lambda: not os.path.exists(f"/proc/{pid}"), 10)
        pk.up(pod_manifest("later", [sleep], runtimeClassName="podkeeper-containerd"))
        pk.wait_for("later Ready", lambda: is_ready(pk.pod("later")), timeout=90)
        for name in ("host", "img"):
            st = container_status(pk.pod(name))
            assert (st["containerID"], st["restartCount"]) == (before[name], 0), st
            assert is_ready(pk.pod(name))
        assert pk.pod("img")["status"]["podIP"] == ip
    finally:
        pk.run("down", timeout=120, check=False)
        leftover = managed.shim_pids() or (managed.dir / "containerd.pid").exists()
        if leftover:
            asyncio.run(reap_home(pk.home))
    assert not leftover, "down did not stop the containerd opened beside the process runtime"
    assert not os.path.exists(f"/sys/class/net/{managed.bridge}")
    assert not managed._cgroup_dirs()


def _pause_pid(pod_ip: str) -> int | None:
    """The pause process whose network namespace holds `pod_ip`."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() != "pause":
                    continue
            with open(f"/proc/{entry}/net/fib_trie") as f:
                if f"|-- {pod_ip}\n" in f.read():
                    return int(entry)
        except OSError:
            continue
    return None


def test_a_dead_sandbox_is_recreated_with_sandbox_changed(cpk: PK) -> None:
    """Killing a pod's pause: the kubelet's SandboxChanged, the containers killed and started
    again in a new sandbox (restartCount 1, a new pod IP), nothing of the old one left."""
    sleep = {"name": "app", "image": BUSYBOX_IMAGE, "command": ["sleep", "3600"]}
    cpk.up(pod_manifest("sb", [sleep]), wait=True)
    old_ip = cpk.pod("sb")["status"]["podIP"]
    pid = cpk.wait_for("the pause process", lambda: _pause_pid(old_ip), timeout=10)
    os.kill(pid, signal.SIGKILL)
    cpk.wait_for(
        "SandboxChanged",
        lambda: any(
            e["reason"] == "SandboxChanged"
            and e["type"] == "Normal"
            and e["message"] == "Pod sandbox changed, it will be killed and re-created."
            for e in cpk.events("sb")
        ),
        timeout=30,
    )

    def restarted() -> dict[str, Any] | None:
        pod = cpk.pod("sb")
        st = container_status(pod)
        ok = st["restartCount"] == 1 and "running" in st["state"] and is_ready(pod)
        return pod if ok and pod["status"].get("podIP") not in (None, old_ip) else None

    pod = cpk.wait_for("the container running in a new sandbox", restarted, timeout=60)
    assert _pause_pid(pod["status"]["podIP"]) not in (None, pid)
    # The kubelet's next sandbox attempt (PodSandboxMetadata.attempt), as crictl pods shows.
    assert asyncio.run(_sandbox_attempts(cpk.home, pod["metadata"]["uid"])) == [1]


async def _sandbox_attempts(home: Path, uid: str) -> list[int]:
    from podkeeper.runtime.cri._gen import api_pb2 as pb
    from podkeeper.runtime.cri.client import CriClient

    client = CriClient(ManagedContainerd(home).endpoint)
    try:
        items = (await client.call("ListPodSandbox", pb.ListPodSandboxRequest(), 30.0)).items
    finally:
        await client.close()
    return [int(i.metadata.attempt) for i in items if i.metadata.uid == uid]


def test_host_port_reaches_the_pod_and_a_taken_one_waits(cpk: PK) -> None:
    """containers[].ports[].hostPort: loopback:hostPort reaches the pod (CNI portmap); a second
    pod asking for the same port stays Pending, saying so, until the first one is gone."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def web(name: str) -> dict[str, Any]:
        c = {
            "name": "httpd",
            "image": HTTPD_IMAGE,
            "ports": [{"containerPort": 80, "hostPort": port}],
        }
        return pod_manifest(name, [c])

    cpk.up(web("web"), wait=True)
    cpk.up(web("web2"))
    assert cpk.wait_for(
        "loopback:hostPort served", lambda: _http(f"http://127.0.0.1:{port}/") == 200, 30
    )
    text = (
        "Failed to create pod sandbox: 0/1 nodes are available: 1 node(s) didn't have free "
        f"ports for the requested pod ports. (host port TCP/{port} in use)"
    )
    cpk.wait_for(
        "web2 refused",
        lambda: any(e["message"] == text for e in cpk.events("web2")),
        timeout=30,
    )
    assert cpk.pod("web2")["status"]["phase"] == "Pending"
    cpk.run("delete", "pod", "web")
    cpk.wait_for(
        "web2 running once the port is free",
        lambda: cpk.pod("web2")["status"].get("phase") == "Running",
        timeout=90,
    )
    assert cpk.wait_for(
        "web2 behind the port", lambda: _http(f"http://127.0.0.1:{port}/") == 200, 30
    )
