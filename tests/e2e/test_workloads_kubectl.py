"""The real kubectl against the workload kinds (issue 12): get with kubectl's columns,
apply, describe, rollout status/restart of a StatefulSet and a DaemonSet, delete."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_kubectl import Cluster, header
from .test_workloads import statefulset

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    from .conftest import reap_home

    tmp = Path(tempfile.mkdtemp(prefix="pk-kwl-"))
    home = tmp / "home"
    c = Cluster(home, tmp, home / "kubeconfig")
    sts = statefulset("web", 2)
    sts["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    ]
    ds = statefulset("agent", 1)
    ds["kind"] = "DaemonSet"
    for key in ("replicas", "serviceName", "volumeClaimTemplates"):
        ds["spec"].pop(key, None)
    up = c.podkeeper("up", "-d", "-f", str(c.write("wl.yaml", sts, ds)))
    try:
        assert up.returncode == 0, up.stderr
        c.wait_for("the kubeconfig", c.kubeconfig.exists, 30)
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
            reap_home(home)
        shutil.rmtree(tmp, ignore_errors=True)


def test_kubectl_serves_the_workload_kinds(cluster: Cluster) -> None:
    k = cluster.kubectl
    k("rollout", "status", "statefulset/web", "--timeout", "90s", timeout=120)
    k("rollout", "status", "daemonset/agent", "--timeout", "90s", timeout=120)
    assert header(k("get", "statefulsets").stdout) == ["NAME", "READY", "AGE"]
    assert header(k("get", "daemonsets").stdout) == [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE SELECTOR",
        "AGE",
    ]
    pvcs = k("get", "pvc").stdout
    assert header(pvcs)[:3] == ["NAME", "STATUS", "VOLUME"] and "data-web-1" in pvcs
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "app", "image": "busybox", "command": ["true"]}],
                }
            }
        },
    }
    assert k("apply", "-f", str(cluster.write("job.yaml", job))).stdout.strip() == (
        "job.batch/once created"
    )
    k("wait", "--for=condition=Complete", "job/once", "--timeout=60s", timeout=90)
    jobs = k("get", "jobs").stdout
    assert header(jobs) == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert "Complete" in jobs and "1/1" in jobs
    assert "Pods Statuses:" in k("describe", "job", "once").stdout
    web = json.loads(k("get", "sts", "web", "-o", "json").stdout)
    assert web["status"]["readyReplicas"] == 2
    out = k("rollout", "restart", "statefulset/web").stdout.strip()
    assert out == "statefulset.apps/web restarted"
    status = k("rollout", "status", "statefulset/web", "--timeout", "90s", timeout=120).stdout
    assert "statefulset rolling update complete 2 pods at revision" in status
    assert k("delete", "job", "once").stdout.strip() == 'job.batch "once" deleted'
