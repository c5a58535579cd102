"""kubectl (v1.32) with ConfigMaps and Secrets against a real agent (issue 12).

`kubectl create secret generic` and `kubectl create configmap` send protobuf
bodies; `get` prints the server's columns (ConfigMap NAME DATA AGE, Secret NAME
TYPE DATA AGE); `describe secret` shows sizes only; an immutable ConfigMap
refuses `kubectl apply` of a data change with the apiserver's message.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import reap_home
from .test_kubectl import Cluster, header

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    tmp = Path(tempfile.mkdtemp(prefix="pk-kcfg-"))
    home = tmp / "home"
    c = Cluster(home, tmp, home / "kubeconfig")
    seed = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seed"}, "data": {}}
    up = c.podkeeper("up", "-d", "-f", str(c.write("seed.yaml", seed)))
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


def test_create_get_describe_delete_secret(cluster: Cluster) -> None:
    out = cluster.kubectl(
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=user=admin",
        "--from-literal=pw=s3cr3t!",
    ).stdout
    assert out.strip() == "secret/creds created"
    table = cluster.kubectl("get", "secrets").stdout
    assert header(table) == ["NAME", "TYPE", "DATA", "AGE"]
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert rows["creds"][1:3] == ["Opaque", "2"]
    described = cluster.kubectl("describe", "secret", "creds").stdout
    assert re.search(r"^Type:\s+Opaque$", described, re.M), described
    assert re.search(r"^pw:\s+7 bytes$", described, re.M), described
    assert re.search(r"^user:\s+5 bytes$", described, re.M), described
    assert "s3cr3t" not in described and "admin" not in described
    raw = cluster.kubectl("get", "secret", "creds", "-o", "jsonpath={.data.pw}").stdout
    assert base64.b64decode(raw) == b"s3cr3t!"
    # podkeeper's own verbs agree with kubectl on the object.
    mine = json.loads(cluster.podkeeper("get", "secret", "creds", "-o", "json").stdout)
    assert mine["data"]["pw"] == raw and mine["type"] == "Opaque"
    assert cluster.kubectl("delete", "secret", "creds").stdout.strip() == 'secret "creds" deleted'
    missing = cluster.kubectl("get", "secret", "creds", check=False)
    assert 'Error from server (NotFound): secrets "creds" not found' in missing.stderr


def test_create_and_get_configmaps(cluster: Cluster) -> None:
    out = cluster.kubectl(
        "create", "configmap", "app", "--from-literal=MODE=prod", "--from-literal=a.b=c"
    ).stdout
    assert out.strip() == "configmap/app created"
    table = cluster.kubectl("get", "cm").stdout
    assert header(table) == ["NAME", "DATA", "AGE"]
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert rows["app"][1] == "2" and rows["seed"][1] == "0"
    data = json.loads(cluster.kubectl("get", "configmap", "app", "-o", "json").stdout)["data"]
    assert data == {"MODE": "prod", "a.b": "c"}
    described = cluster.kubectl("describe", "cm", "app").stdout
    assert "MODE:\n----\nprod" in described
    bad = cluster.kubectl("create", "configmap", "bad", "--from-literal=a b=c", check=False)
    assert bad.returncode != 0


def test_immutable_configmap_refuses_kubectl_apply(cluster: Cluster) -> None:
    frozen = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "frozen"},
        "immutable": True,
        "data": {"a": "1"},
    }
    cluster.kubectl("apply", "-f", str(cluster.write("frozen.yaml", frozen)))
    changed = {**frozen, "data": {"a": "2"}}
    res = cluster.kubectl("apply", "-f", str(cluster.write("changed.yaml", changed)), check=False)
    assert res.returncode != 0
    assert (
        'ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set'
    ) in res.stderr
    cluster.kubectl("label", "cm", "frozen", "x=y")
    got = json.loads(cluster.kubectl("get", "cm", "frozen", "-o", "json").stdout)
    assert got["data"] == {"a": "1"} and got["metadata"]["labels"] == {"x": "y"}
