"""DeleteCollection and pods/<name>/status against a real agent, through the official Python
client, raw HTTP on the agent's socket and the real kubectl (`patch --subresource=status`).

Also readiness gates end to end: Ready (and so the Service's endpoints) waits for every
gate's condition, which clients set through pods/status; the kubelet-owned fields a client
writes are overwritten by the agent's next status (the kubelet's reconcile).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podkeeper.api.client import UnixHTTPConnection

from .conftest import PK, is_ready
from .test_kubectl import Cluster

pytestmark = pytest.mark.e2e

kubernetes = pytest.importorskip("kubernetes")

NS = "default"
PODS = f"/api/v1/namespaces/{NS}/pods"
GATE = "example.com/gate"
SLEEP = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]


def _pod(name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 5,
            "containers": [{"name": "app", "image": "busybox", "command": SLEEP}],
            **spec,
        },
    }


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    from .conftest import reap_home

    tmp = Path(tempfile.mkdtemp(prefix="pk-apis-"))
    home = tmp / "home"
    c = Cluster(home, tmp, home / "kubeconfig")
    up = c.podkeeper("up", "-d", "-f", str(c.write("none.yaml", _pod("seed", {"app": "seed"}))))
    try:
        assert up.returncode == 0, up.stderr
        c.wait_for("the kubeconfig", c.kubeconfig.exists, 60)
        yield c
    finally:
        if c.podkeeper("down").returncode != 0:
            reap_home(home)
        shutil.rmtree(tmp, ignore_errors=True)


def http(c: Cluster, method: str, path: str, body: Any = None, ctype: str = "") -> tuple[int, Any]:
    conn = UnixHTTPConnection(str(c.home / "agent.sock"), 60.0)
    try:
        headers = {"Accept": "application/json"}
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None:
            headers["Content-Type"] = ctype or "application/json"
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def api(c: Cluster) -> Any:
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(config_file=str(c.kubeconfig)))


def condition(pod: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((x for x in pod["status"].get("conditions", []) if x["type"] == ctype), {})


def get_pod(c: Cluster, name: str) -> dict[str, Any]:
    code, pod = http(c, "GET", f"{PODS}/{name}")
    assert code == 200, pod
    return dict(pod)


def test_delete_collection_python_client_and_raw_http(cluster: Cluster) -> None:
    core = api(cluster)
    for i in range(3):
        core.create_namespaced_config_map(
            NS, {"metadata": {"name": f"dc-{i}", "labels": {"dc": "yes" if i < 2 else "no"}}}
        )
    core.delete_collection_namespaced_config_map(NS, label_selector="dc=yes")
    left = [m.metadata.name for m in core.list_namespaced_config_map(NS, label_selector="dc").items]
    assert left == ["dc-2"]
    # Raw: dryRun answers the list and deletes nothing; then the field selector deletes one.
    path = f"/api/v1/namespaces/{NS}/configmaps"
    code, body = http(cluster, "DELETE", f"{path}?labelSelector=dc%3Dno&dryRun=All")
    assert code == 200 and body["kind"] == "ConfigMapList" and len(body["items"]) == 1
    assert core.read_namespaced_config_map("dc-2", NS).metadata.name == "dc-2"
    code, body = http(cluster, "DELETE", f"{path}?fieldSelector=metadata.name%3Ddc-2")
    assert code == 200 and [i["metadata"]["name"] for i in body["items"]] == ["dc-2"]
    assert core.list_namespaced_config_map(NS, label_selector="dc").items == []

    # Pods: the same graceful deletion as one by one (deletionTimestamp, the grace given).
    for i in range(3):
        core.create_namespaced_pod(NS, _pod(f"dcp-{i}", {"dcp": "yes"}))
    cluster.wait_for(
        "3 pods running",
        lambda: (
            sum(
                p.status.phase == "Running"
                for p in core.list_namespaced_pod(NS, label_selector="dcp").items
            )
            == 3
        ),
        120,
    )
    code, body = http(
        cluster, "DELETE", f"{PODS}?labelSelector=dcp%3Dyes&fieldSelector=metadata.name%21%3Ddcp-2"
    )
    assert code == 200 and body["kind"] == "PodList", body
    assert sorted(i["metadata"]["name"] for i in body["items"]) == ["dcp-0", "dcp-1"]
    core.delete_collection_namespaced_pod(NS, label_selector="dcp", grace_period_seconds=3)
    seen = {p.metadata.name: p for p in core.list_namespaced_pod(NS, label_selector="dcp").items}
    assert seen["dcp-2"].metadata.deletion_timestamp is not None
    assert seen["dcp-2"].metadata.deletion_grace_period_seconds == 3
    cluster.wait_for(
        "the pods gone",
        lambda: core.list_namespaced_pod(NS, label_selector="dcp").items == [],
        120,
    )
    # kubectl reads the verb from discovery (as against a real API server).
    names = cluster.kubectl("api-resources", "--verbs=deletecollection", "-o", "name").stdout
    assert {"pods", "configmaps", "secrets", "deployments.apps"} <= set(names.split())
    assert "namespaces" not in names.split()
    # As the API server: no DELETE across all namespaces.
    code, body = http(cluster, "DELETE", "/api/v1/pods")
    assert (code, body["reason"]) == (405, "MethodNotAllowed")


def test_readiness_gates_status_writes_and_endpoints(cluster: Cluster) -> None:
    core = api(cluster)
    pod = _pod("gated", {"app": "gated"}, readinessGates=[{"conditionType": GATE}])
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "gated"},
        "spec": {"selector": {"app": "gated"}, "ports": [{"port": 18099, "targetPort": 80}]},
    }
    up = cluster.podkeeper("up", "-d", "-f", str(cluster.write("gated.yaml", pod, svc)))
    assert up.returncode == 0, up.stderr
    cluster.wait_for(
        "gated Running with ContainersReady",
        lambda: condition(get_pod(cluster, "gated"), "ContainersReady").get("status") == "True",
        120,
    )
    ready = condition(get_pod(cluster, "gated"), "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ReadinessGatesNotReady")
    assert (
        ready["message"]
        == f'corresponding condition of pod readiness gate "{GATE}" does not exist.'
    )

    def endpoints() -> tuple[list[str], list[str]]:
        ep = core.read_namespaced_endpoints("gated", NS)
        subsets = ep.subsets or []
        ready = [a.ip for s in subsets for a in s.addresses or []]
        not_ready = [a.ip for s in subsets for a in s.not_ready_addresses or []]
        return ready, not_ready

    cluster.wait_for("a not-ready endpoint", lambda: endpoints()[1] != [], 60)
    assert endpoints()[0] == []

    # kubectl patch --subresource=status sets the gate's condition: Ready, endpoint ready.
    patch = json.dumps({"status": {"conditions": [{"type": GATE, "status": "True"}]}})
    cluster.kubectl("patch", "pod", "gated", "--subresource=status", "--type=merge", "-p", patch)
    got = get_pod(cluster, "gated")
    assert condition(got, GATE)["status"] == "True"
    assert condition(got, "Ready")["status"] == "True"
    cluster.wait_for(
        "the endpoint ready", lambda: endpoints()[0] != [] and endpoints()[1] == [], 60
    )

    # The Python client (strategic merge: conditions merge by type) turns the gate False.
    body = {"status": {"conditions": [{"type": GATE, "status": "False"}]}}
    out = core.patch_namespaced_pod_status("gated", NS, body)
    assert {c.type: c.status for c in out.status.conditions}[GATE] == "False"
    ready = condition(get_pod(cluster, "gated"), "Ready")
    assert ready["message"] == f'the status of pod readiness gate "{GATE}" is not "True", but False'
    cluster.wait_for("the endpoint not ready", lambda: endpoints()[0] == [], 60)

    # replace (PUT): written kubelet-owned fields show until the agent's next status.
    current = core.read_namespaced_pod_status("gated", NS)
    current.status.message = "written by a client"
    current.status.conditions = [
        c if c.type != GATE else kubernetes.client.V1PodCondition(type=GATE, status="True")
        for c in current.status.conditions
    ]
    stale_rv = current.metadata.resource_version
    replaced = core.replace_namespaced_pod_status("gated", NS, current)
    assert {c.type: c.status for c in replaced.status.conditions}[GATE] == "True"
    current.metadata.resource_version = stale_rv
    with pytest.raises(kubernetes.client.exceptions.ApiException) as err:
        core.replace_namespaced_pod_status("gated", NS, current)
    assert err.value.status == 409
    # A kubelet-owned condition written False is the agent's again within its reconcile.
    cluster.wait_for(
        "Ready True again",
        lambda: condition(get_pod(cluster, "gated"), "Ready")["status"] == "True",
        60,
    )
    body = {"status": {"message": "hello", "conditions": [{"type": "Ready", "status": "False"}]}}
    out = core.patch_namespaced_pod_status("gated", NS, body)
    assert out.status.message == "hello"
    assert {c.type: c.status for c in out.status.conditions}["Ready"] == "False"
    t0 = time.monotonic()
    cluster.wait_for(
        "the agent's Ready back",
        lambda: (
            condition(get_pod(cluster, "gated"), "Ready")["status"] == "True"
            and not get_pod(cluster, "gated")["status"].get("message")
        ),
        60,
    )
    assert time.monotonic() - t0 < 30
    # Controllers follow the agent's status again too (the Service saw the written Ready).
    cluster.wait_for("the endpoint ready again", lambda: endpoints()[0] != [], 30)
    # The gate's condition (not the kubelet's) stayed as written.
    assert condition(get_pod(cluster, "gated"), GATE)["status"] == "True"


def test_written_gate_condition_survives_an_agent_crash(pk: PK) -> None:
    """The conditions clients wrote are the API server's copy: a restarted agent keeps them,
    so a gated pod it re-adopts is Ready again without anyone writing them twice."""
    pk.up(_pod("gated", {"app": "gated"}, readinessGates=[{"conditionType": GATE}]))
    pk.wait_for(
        "ContainersReady",
        lambda: condition(pk.pod("gated"), "ContainersReady").get("status") == "True",
        120,
    )
    sock = UnixHTTPConnection(str(pk.home / "agent.sock"), 60.0)
    try:
        body = json.dumps({"status": {"conditions": [{"type": GATE, "status": "True"}]}})
        sock.request(
            "PATCH",
            f"{PODS}/gated/status",
            body=body.encode(),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert sock.getresponse().status == 200
    finally:
        sock.close()
    pk.wait_for("Ready", lambda: is_ready(pk.pod("gated")), 30)
    agent = pk.agent_pid()
    assert agent is not None
    os.kill(agent, signal.SIGKILL)
    pk.wait_for("the agent to die", lambda: not os.path.exists(f"/proc/{agent}/status"), 30)
    pk.up(_pod("after", {"app": "after"}))  # a new agent, which restores `gated`
    pod = pk.wait_for(
        "gated Ready again", lambda: is_ready(pk.pod("gated")) and pk.pod("gated"), 120
    )
    assert condition(pod, GATE)["status"] == "True"
