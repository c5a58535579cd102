"""The real kubectl (v1.32) against a real agent through the kubeconfig the agent writes (issue 11).

One agent for the module (started with `podkeeper up -d`, drained at the end);
each test drives kubectl as a user would and compares what it prints with the
fixed text kubectl prints for the same objects against a cluster (column
headers, the describe layout).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .conftest import reap_home

pytestmark = pytest.mark.e2e

_PINNED = Path("/usr/lib/google-cloud-sdk/bin/kubectl.1.32")
KUBECTL = str(_PINNED) if _PINNED.exists() else shutil.which("kubectl")

if KUBECTL is None:  # pragma: no cover - depends on the machine
    pytest.skip("kubectl is not installed", allow_module_level=True)

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "busybox",
                "command": ["sh", "-c", "echo hello; echo world; exec sleep 100000"],
            }
        ],
        "terminationGracePeriodSeconds": 2,
    },
}
ONCE = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "once", "labels": {"app": "once"}},
    "spec": {
        "restartPolicy": "Never",
        "containers": [
            {"name": "app", "image": "busybox", "command": ["sh", "-c", "echo one; exit 3"]}
        ],
    },
}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "hello", "labels": {"app": "hello"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "hello"}},
        "template": {
            "metadata": {"labels": {"app": "hello"}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "app", "image": "busybox", "command": ["sleep", "100000"]}],
            },
        },
    },
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "hello"},
    "spec": {"selector": {"app": "hello"}, "ports": [{"port": 18080, "targetPort": 8080}]},
}


@dataclass
class Cluster:
    home: Path
    tmp: Path
    kubeconfig: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(KUBECONFIG=str(self.kubeconfig), PODKEEPER_HOME=str(self.home))
        return env

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 60, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(KUBECTL), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            input=stdin,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
            )
        return proc

    def podkeeper(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "podkeeper", "--home", str(self.home), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            stdin=subprocess.DEVNULL,
        )

    def write(self, name: str, *objs: dict[str, object]) -> Path:
        path = self.tmp / name
        path.write_text(yaml.safe_dump_all(list(objs)))
        return path

    def wait_for(self, what: str, pred: object, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():  # type: ignore[operator]
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    tmp = Path(tempfile.mkdtemp(prefix="pk-kctl-"))
    home = tmp / "home"
    c = Cluster(home, tmp, home / "kubeconfig")
    manifest = c.write("all.yaml", POD, ONCE, DEPLOYMENT, SERVICE)
    up = c.podkeeper("up", "-d", "-f", str(manifest), "--wait", "--timeout", "60s")
    try:
        assert up.returncode in (0, 1), up.stderr  # `once` exits by design
        c.wait_for("the kubeconfig", c.kubeconfig.exists, 30)
        # `up --wait` also returns (rc 1) on its timeout, which a busy machine can
        # reach first: wait for the states the tests read, with a wide margin.
        for pod, phase in (("web", "Running"), ("once", "Failed")):
            c.wait_for(
                f"pod {pod} {phase}",
                lambda pod=pod, phase=phase: (
                    c.kubectl(
                        "get", "pod", pod, "-o", "jsonpath={.status.phase}", check=False
                    ).stdout
                    == phase
                ),
                180,
            )
        c.wait_for(
            "pod web Ready",
            lambda: (
                "True"
                in c.kubectl(
                    "get",
                    "pod",
                    "web",
                    "-o",
                    'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
                    check=False,
                ).stdout
            ),
            180,
        )
        yield c
    finally:
        down = c.podkeeper("down")
        if down.returncode != 0:
            pid_file = home / "agent.pid"
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text()), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            reap_home(home)  # monitored containers outlive a killed agent
        shutil.rmtree(tmp, ignore_errors=True)


def header(text: str) -> list[str]:
    """The column names of kubectl's table (split on two or more spaces)."""
    return re.split(r"\s{2,}", text.splitlines()[0].strip())


# -- discovery, version ------------------------------------------------------


def test_version_and_api_resources(cluster: Cluster) -> None:
    out = cluster.kubectl("version").stdout
    assert re.search(r"^Server Version: v1\.\d+\.0-podkeeper", out, re.M), out
    res = cluster.kubectl("api-resources").stdout
    assert header(res) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = {line.split()[-1]: line.split() for line in res.splitlines()[1:]}
    assert rows["Pod"] == ["pods", "po", "v1", "true", "Pod"]
    assert rows["Deployment"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert rows["Node"] == ["nodes", "no", "v1", "false", "Node"]
    assert rows["PodMetrics"] == ["pods", "metrics.k8s.io/v1beta1", "true", "PodMetrics"]


# -- get -----------------------------------------------------------------------


def test_get_pods_in_every_output_format(cluster: Cluster) -> None:
    out = cluster.kubectl("get", "pods").stdout
    assert header(out) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["web"][1:3] == ["1/1", "Running"]
    assert rows["once"][1:3] == ["0/1", "Error"]
    wide = cluster.kubectl("get", "pods", "-o", "wide").stdout
    assert header(wide) == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ]
    doc = json.loads(cluster.kubectl("get", "pod", "web", "-o", "json").stdout)
    assert doc["kind"] == "Pod" and doc["metadata"]["resourceVersion"]
    listed = yaml.safe_load(cluster.kubectl("get", "pods", "-o", "yaml").stdout)
    assert listed["kind"] == "List" and {i["metadata"]["name"] for i in listed["items"]} >= {
        "web",
        "once",
    }
    names = cluster.kubectl("get", "pods", "-l", "app=web", "-o", "name").stdout.split()
    assert names == ["pod/web"]
    assert cluster.kubectl(
        "get", "pods", "-l", "app in (web,once)", "-o", "name"
    ).stdout.split() == [
        "pod/once",
        "pod/web",
    ]
    jp = cluster.kubectl("get", "pod", "web", "-o", "jsonpath={.spec.containers[0].name}").stdout
    assert jp == "app"
    cc = cluster.kubectl(
        "get", "pods", "-l", "app=web", "-o", "custom-columns=NAME:.metadata.name,IP:.status.podIP"
    ).stdout
    assert header(cc) == ["NAME", "IP"] and cc.splitlines()[1].split()[0] == "web"
    missing = cluster.kubectl("get", "pod", "nope", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): pods "nope" not found' in missing.stderr


def test_get_other_kinds_headers(cluster: Cluster) -> None:
    cluster.wait_for(
        "deployment ready",
        lambda: (
            cluster.kubectl(
                "get", "deploy", "hello", "-o", "jsonpath={.status.readyReplicas}"
            ).stdout
            == "2"
        ),
    )
    assert header(cluster.kubectl("get", "deployments").stdout) == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
    ]
    assert header(cluster.kubectl("get", "deploy", "-o", "wide").stdout)[5:] == [
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    assert header(cluster.kubectl("get", "replicasets").stdout) == [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "AGE",
    ]
    svc = cluster.kubectl("get", "services").stdout
    assert header(svc) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert "18080/TCP" in svc
    assert header(cluster.kubectl("get", "endpoints").stdout) == ["NAME", "ENDPOINTS", "AGE"]
    assert header(cluster.kubectl("get", "events").stdout) == [
        "LAST SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "MESSAGE",
    ]
    nodes = cluster.kubectl("get", "nodes").stdout
    assert header(nodes) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert nodes.splitlines()[1].split()[1] == "Ready"
    ns = cluster.kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert {"namespace/default", "namespace/kube-system"} <= set(ns)
    everything = cluster.kubectl("get", "all").stdout
    assert "pod/web" in everything and "deployment.apps/hello" in everything


# -- describe ----------------------------------------------------------------------


def test_describe_pod_deployment_service_node(cluster: Cluster) -> None:
    out = cluster.kubectl("describe", "pod", "web").stdout
    for label in ("Name:", "Namespace:", "Node:", "Status:", "IP:", "Containers:", "Conditions:"):
        assert re.search(rf"^{label}\s", out, re.M), (label, out)
    assert re.search(r"^\s+Restart Count:\s+0$", out, re.M)
    events = out[out.index("\nEvents:") :]
    assert re.search(r"Type\s+Reason\s+Age\s+From\s+Message", events)
    assert "Started container app" in events
    dep = cluster.kubectl("describe", "deployment", "hello").stdout
    assert re.search(r"^Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available", dep, re.M)
    assert "NewReplicaSet:" in dep
    svc = cluster.kubectl("describe", "service", "hello").stdout
    assert re.search(r"^Selector:\s+app=hello$", svc, re.M)
    # kubectl 1.32 reads the Service's EndpointSlices (derived from its Endpoints).
    assert re.search(r"^Endpoints:\s+10\.\d+\.\d+\.\d+:8080,", svc, re.M), svc
    node = cluster.kubectl("describe", "node").stdout
    assert re.search(r"^Capacity:$", node, re.M) and "KubeletReady" in node
    assert re.search(r"^  HolderIdentity:\s+\S+$", node, re.M), node


# -- logs ----------------------------------------------------------------------------


def test_logs_tail_timestamps_follow_previous(cluster: Cluster) -> None:
    assert cluster.kubectl("logs", "web").stdout == "hello\nworld\n"
    assert cluster.kubectl("logs", "web", "--tail", "1").stdout == "world\n"
    stamped = cluster.kubectl("logs", "web", "--timestamps").stdout.splitlines()
    assert all(
        re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (hello|world)$", s) for s in stamped
    )
    # Issue 13 item 16: `logs -f` on an exited container returns, as kubectl's does.
    t0 = time.monotonic()
    followed = cluster.kubectl("logs", "-f", "once", timeout=30)
    assert followed.stdout == "one\n" and time.monotonic() - t0 < 20
    prev = cluster.kubectl("logs", "-p", "web", check=False)
    assert prev.returncode == 1 and 'previous terminated container "app"' in prev.stderr


# -- writes ------------------------------------------------------------------------


def test_apply_label_annotate_scale(cluster: Cluster) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "applied", "labels": {"app": "applied"}},
        "spec": {"containers": [{"name": "app", "image": "busybox", "command": ["sleep", "1000"]}]},
    }
    path = cluster.write("applied.yaml", pod)
    assert cluster.kubectl("apply", "-f", str(path)).stdout.strip() == "pod/applied created"
    assert cluster.kubectl("apply", "-f", str(path)).stdout.strip() == "pod/applied unchanged"
    pod["metadata"]["labels"] = {"app": "applied", "tier": "x"}  # type: ignore[index]
    path = cluster.write("applied.yaml", pod)
    assert cluster.kubectl("apply", "-f", str(path)).stdout.strip() == "pod/applied configured"
    assert cluster.kubectl("get", "pods", "-l", "tier=x", "-o", "name").stdout.split() == [
        "pod/applied"
    ]
    ssa = cluster.kubectl("apply", "--server-side", "-f", str(cluster.write("d.yaml", DEPLOYMENT)))
    assert ssa.stdout.strip() == "deployment.apps/hello serverside-applied"
    assert cluster.kubectl("label", "pod", "web", "color=blue").stdout.strip() == "pod/web labeled"
    assert cluster.kubectl("get", "pods", "-l", "color=blue", "-o", "name").stdout.split() == [
        "pod/web"
    ]
    out = cluster.kubectl("annotate", "deployment", "hello", "owner=me").stdout.strip()
    assert out == "deployment.apps/hello annotated"
    assert cluster.kubectl("scale", "deployment", "hello", "--replicas", "3").stdout.strip() == (
        "deployment.apps/hello scaled"
    )
    cluster.wait_for(
        "3 ready replicas",
        lambda: (
            cluster.kubectl(
                "get", "deploy", "hello", "-o", "jsonpath={.status.readyReplicas}"
            ).stdout
            == "3"
        ),
    )
    cluster.kubectl("rollout", "status", "deployment/hello", "--timeout", "60s")
    cluster.kubectl("scale", "deployment", "hello", "--replicas", "2")
    bad = cluster.kubectl(
        "apply",
        "-f",
        "-",
        check=False,
        stdin="kind: Pod\napiVersion: v1\nmetadata: {name: bad}\nspec: {containers: []}\n",
    )
    # kubectl's words for a 422 whose Status names the kind, the object and each field.
    assert bad.returncode == 1
    assert 'The Pod "bad" is invalid: spec.containers: Required value' in bad.stderr


def test_wait_and_delete_with_grace(cluster: Cluster) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "short"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "busybox",
                    "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"],
                }
            ]
        },
    }
    cluster.kubectl("create", "-f", str(cluster.write("short.yaml", pod)))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/short", "--timeout=60s")
    t0 = time.monotonic()
    out = cluster.kubectl("delete", "pod", "short", "--grace-period=1", timeout=60).stdout
    assert out.strip() == 'pod "short" deleted' and time.monotonic() - t0 < 30
    gone = cluster.kubectl("get", "pod", "short", check=False)
    assert 'pods "short" not found' in gone.stderr


def test_get_watch_sees_a_change(cluster: Cluster) -> None:
    with subprocess.Popen(
        [str(KUBECTL), "get", "pods", "-l", "app=web", "-w", "-o", "name"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=cluster.env(),
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "pod/web"
            cluster.kubectl("annotate", "pod", "web", f"seen={time.time_ns()}")
            assert proc.stdout.readline().strip() == "pod/web"  # the MODIFIED event
        finally:
            proc.kill()


# -- authentication and files -------------------------------------------------------


def _server(cluster: Cluster) -> str:
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    return str(config["clusters"][0]["cluster"]["server"])


def _status(url: str, ctx: ssl.SSLContext, token: str | None = None) -> int:
    req = urllib.request.Request(url)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_auth_and_file_modes(cluster: Cluster) -> None:
    from podkeeper.api import pki

    server = _server(cluster)
    assert server.startswith("https://127.0.0.1:")
    creds = pki.credentials(cluster.home)
    anonymous = creds.client_context(with_cert=False)
    url = f"{server}/api/v1/namespaces/default/pods"
    assert _status(url, anonymous) == 401
    assert _status(url, anonymous, "wrong") == 401
    assert _status(url, anonymous, creds.read_token()) == 200
    assert _status(url, creds.client_context()) == 200
    for path in (cluster.kubeconfig, creds.ca_key, creds.server_key, creds.client_key, creds.token):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(creds.folder.stat().st_mode) == 0o700
    if os.geteuid() == 0:
        # Another local user gets nothing: neither the kubeconfig nor the token.
        def as_nobody() -> None:
            os.setgid(65534)
            os.setuid(65534)

        for path in (cluster.kubeconfig, creds.token):
            peek = subprocess.run(
                ["cat", str(path)], capture_output=True, preexec_fn=as_nobody, timeout=10
            )
            assert peek.returncode != 0 and b"Permission denied" in peek.stderr
    printed = cluster.podkeeper("kubeconfig")
    assert printed.returncode == 0 and printed.stdout == cluster.kubeconfig.read_text()
    target = cluster.tmp / "kube-config"
    target.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "other", "cluster": {"server": "https://example:6443"}}],
                "users": [{"name": "other", "user": {"token": "t"}}],
                "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}],
                "current-context": "other",
            }
        )
    )
    merged = cluster.podkeeper("kubeconfig", "--merge", "--kubeconfig", str(target))
    assert merged.returncode == 0, merged.stderr
    config = yaml.safe_load(target.read_text())
    assert [c["name"] for c in config["contexts"]] == ["other", "podkeeper"]
    assert config["current-context"] == "other"
    env = cluster.env()
    env["KUBECONFIG"] = str(target)
    via = subprocess.run(
        [str(KUBECTL), "--context", "podkeeper", "get", "pod", "web", "-o", "name"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert via.stdout.strip() == "pod/web", via.stderr


def test_explain_and_openapi(cluster: Cluster) -> None:
    out = cluster.kubectl("explain", "pod.spec.containers.livenessProbe").stdout
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n\nFIELD: livenessProbe <Probe>")
    assert re.search(r"^  initialDelaySeconds\t<integer>$", out, re.M)


# -- the official Python client ------------------------------------------------------


def test_official_python_client(cluster: Cluster) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    from kubernetes import client, config, watch

    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    with api_client:
        core = client.CoreV1Api(api_client)
        apps = client.AppsV1Api(api_client)
        pods = core.list_namespaced_pod("default", label_selector="app=web")
        assert [p.metadata.name for p in pods.items] == ["web"]
        rv = pods.metadata.resource_version
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "pyclient", "labels": {"app": "py"}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "app", "image": "busybox", "command": ["sleep", "1000"]}],
            },
        }
        created = core.create_namespaced_pod("default", body)
        assert created.metadata.uid and created.metadata.name == "pyclient"
        with pytest.raises(kubernetes.client.exceptions.ApiException) as err:
            core.create_namespaced_pod("default", body)
        assert err.value.status == 409
        core.patch_namespaced_pod("pyclient", "default", {"metadata": {"labels": {"py": "yes"}}})
        seen: list[tuple[str, str]] = []
        w = watch.Watch()
        for ev in w.stream(
            core.list_namespaced_pod,
            "default",
            label_selector="app=py",
            resource_version=rv,
            timeout_seconds=30,
        ):
            labels = ev["object"].metadata.labels or {}
            seen.append((ev["type"], labels.get("py", "")))
            if ("MODIFIED", "yes") in seen:
                w.stop()
        assert seen[0] == ("ADDED", "") and ("MODIFIED", "yes") in seen
        # Optimistic concurrency: an update with a stale resourceVersion is refused.
        stale = core.read_namespaced_pod("pyclient", "default")
        core.patch_namespaced_pod("pyclient", "default", {"metadata": {"labels": {"py": "2"}}})
        stale.metadata.labels["py"] = "3"
        with pytest.raises(kubernetes.client.exceptions.ApiException) as err:
            core.replace_namespaced_pod("pyclient", "default", stale)
        assert err.value.status == 409
        core.delete_namespaced_pod("pyclient", "default", grace_period_seconds=1)
        cluster.wait_for(
            "pyclient gone",
            lambda: (
                "pyclient"
                not in [p.metadata.name for p in core.list_namespaced_pod("default").items]
            ),
        )
        deployments = apps.list_namespaced_deployment("default")
        assert [d.metadata.name for d in deployments.items] == ["hello"]
        apps.patch_namespaced_deployment("hello", "default", {"metadata": {"labels": {"x": "y"}}})
        assert apps.read_namespaced_deployment("hello", "default").metadata.labels["x"] == "y"
        node = core.list_node().items[0]
        assert node.status.capacity["cpu"]


def test_rollout_restart_and_undo_and_namespaces(cluster: Cluster) -> None:
    def replicasets() -> dict[str, str]:
        out = cluster.kubectl("get", "rs", "-l", "app=hello", "-o", "json").stdout
        return {
            rs["metadata"]["name"]: str(rs["spec"]["replicas"]) for rs in json.loads(out)["items"]
        }

    cluster.kubectl("rollout", "status", "deployment/hello", "--timeout", "60s")
    before = {name for name, n in replicasets().items() if n != "0"}
    out = cluster.kubectl("rollout", "restart", "deployment/hello").stdout.strip()
    assert out == "deployment.apps/hello restarted"
    cluster.kubectl("rollout", "status", "deployment/hello", "--timeout", "60s")
    after = {name for name, n in replicasets().items() if n != "0"}
    assert after and after != before
    out = cluster.kubectl("rollout", "undo", "deployment/hello").stdout.strip()
    assert out == "deployment.apps/hello rolled back"
    cluster.kubectl("rollout", "status", "deployment/hello", "--timeout", "60s")
    # Back to the very ReplicaSet of the first revision, not a third one.
    assert {name for name, n in replicasets().items() if n != "0"} == before
    assert len(replicasets()) == 2
    # `create namespace` sends protobuf (kubectl's typed client).
    assert cluster.kubectl("create", "namespace", "team").stdout.strip() == "namespace/team created"
    cluster.kubectl("-n", "team", "run", "x", "--image=busybox", "--command", "--", "sleep", "100")
    assert cluster.kubectl("-n", "team", "get", "pods", "-o", "name").stdout.split() == ["pod/x"]
    everywhere = cluster.kubectl("get", "pods", "-A").stdout
    assert header(everywhere)[:2] == ["NAMESPACE", "NAME"] and "team" in everywhere
    cluster.kubectl("-n", "team", "delete", "pod", "x", "--grace-period=0", "--force")


def test_describe_shows_only_this_pods_events(cluster: Cluster) -> None:
    def pod(image: str) -> Path:
        return cluster.write(
            "again.yaml",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "again"},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "app", "image": image, "command": ["sleep", "1000"]}],
                },
            },
        )

    cluster.kubectl("create", "-f", str(pod("busybox:first")))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/again", "--timeout=60s")
    cluster.kubectl("delete", "pod", "again", "--grace-period=1", timeout=60)
    cluster.kubectl("create", "-f", str(pod("busybox:second")))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/again", "--timeout=60s")
    for out in (
        cluster.kubectl("describe", "pod", "again").stdout,
        cluster.podkeeper("describe", "pod", "again").stdout,
    ):
        events = out[out.index("Events:") :]
        assert 'image "busybox:second"' in events
        assert "busybox:first" not in events, events
    cluster.kubectl("delete", "pod", "again", "--grace-period=1", timeout=60)


def test_top_pods_and_node(cluster: Cluster) -> None:
    hog = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hog"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": "python",
                    "command": [
                        sys.executable,
                        "-c",
                        "x = bytearray(64 * 1024 * 1024)\nwhile True: pass",
                    ],
                }
            ],
        },
    }
    cluster.kubectl("create", "-f", str(cluster.write("hog.yaml", hog)))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/hog", "--timeout=60s")
    time.sleep(1)  # the bytearray is allocated
    out = cluster.kubectl("top", "pod", "hog").stdout
    assert header(out) == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    name, cpu, memory = out.splitlines()[1].split()
    if not (cluster.home / "pods").exists() or (cpu == "0m" and memory == "0Mi"):
        pytest.skip("no cgroups on this machine: the agent runs without accounting")
    # A busy loop: far more than 100 millicores even on a loaded machine; 64 MiB resident.
    assert name == "hog" and int(cpu.rstrip("m")) > 100, out
    assert int(memory.rstrip("Mi")) >= 60, out
    node = cluster.kubectl("top", "node").stdout
    assert header(node) == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    cluster.kubectl("delete", "pod", "hog", "--grace-period=1", timeout=60)


_BIG_SERVER = """
import http.server
BODY = bytes(range(256)) * 4096  # 1 MiB
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = BODY if self.path == "/big" else b"hello from the pod\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[::-1])
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_port_forward_carries_http(cluster: Cluster) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "http"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "app",
                    "image": "python",
                    "command": [sys.executable, "-c", _BIG_SERVER],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                }
            ],
        },
    }
    cluster.kubectl("create", "-f", str(cluster.write("http.yaml", pod)))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/http", "--timeout=60s")
    port = _free_port()
    with subprocess.Popen(
        [str(KUBECTL), "port-forward", "pod/http", f"{port}:8080"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cluster.env(),
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith(f"Forwarding from 127.0.0.1:{port} -> 8080"), first
            base = f"http://127.0.0.1:{port}"
            with urllib.request.urlopen(f"{base}/", timeout=10) as resp:
                assert resp.read() == b"hello from the pod\n"
            with urllib.request.urlopen(f"{base}/big", timeout=30) as resp:
                assert resp.read() == bytes(range(256)) * 4096
            payload = os.urandom(200_000)
            req = urllib.request.Request(f"{base}/echo", data=payload, method="POST")
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.read() == payload[::-1]
        finally:
            proc.kill()
    cluster.kubectl("delete", "pod", "http", "--grace-period=1", timeout=60)


def test_exec_stdin_stdout_stderr_and_exit_code(cluster: Cluster) -> None:
    out = cluster.kubectl(
        "exec", "web", "--", "sh", "-c", "echo out; echo err >&2; hostname; exit 3", check=False
    )
    assert out.returncode == 3, out.stderr
    assert out.stdout == "out\nweb\n"  # the pod's own hostname: the container's namespaces
    assert out.stderr.startswith("err\n") and "command terminated with exit code 3" in out.stderr
    fed = cluster.kubectl("exec", "-i", "web", "--", "sh", "-c", "cat; echo done", stdin="abc\n")
    assert fed.returncode == 0 and fed.stdout == "abc\ndone\n"
    env = cluster.kubectl("exec", "web", "--", "sh", "-c", "echo $HOSTNAME").stdout
    assert env == "web\n"
    gone = cluster.kubectl("exec", "once", "--", "true", check=False)
    assert gone.returncode == 1 and "cannot exec into a container in a completed pod" in gone.stderr


def test_exec_runs_as_the_container_user_with_its_capabilities(cluster: Cluster) -> None:
    """`kubectl exec` copies the container's identity (issue 13): a `runAsUser: 1000`
    container with every capability dropped gives no root shell with all of them."""
    if os.geteuid() != 0:
        pytest.skip("needs root: only a root agent runs containers as another user")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "locked"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsUser": 1000, "runAsGroup": 3000},
            "containers": [
                {
                    "name": "app",
                    "image": "busybox",
                    "command": ["sleep", "100000"],
                    "securityContext": {
                        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                        "allowPrivilegeEscalation": False,
                    },
                }
            ],
        },
    }
    cluster.kubectl("create", "-f", str(cluster.write("locked.yaml", pod)))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/locked", "--timeout=60s")
    out = cluster.kubectl(
        "exec",
        "locked",
        "--",
        "sh",
        "-c",
        "id -u; id -g; grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status",
    ).stdout.split("\n")
    assert out[:2] == ["1000", "3000"], out
    # Only NET_BIND_SERVICE (bit 10) is left, and no_new_privs holds.
    assert out[2].split() == ["CapBnd:", f"{1 << 10:016x}"], out
    assert out[3].split() == ["NoNewPrivs:", "1"], out
    cluster.kubectl("delete", "pod", "locked", "--grace-period=1", timeout=60)
