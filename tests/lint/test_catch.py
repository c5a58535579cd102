"""Issue 14, "problems it must catch": the parsers behind the new rules, case by case."""

from __future__ import annotations

import pytest

from podkeeper.lint.config import Config
from podkeeper.lint.engine import lint_documents
from podkeeper.lint.rules_exec import client_timeout, never_fails
from podkeeper.manifest import load_text


@pytest.mark.parametrize(
    "command",
    [
        ["true"],
        ["/bin/true"],
        ["test", "-d", "/proc/1"],
        ["test", "-e", "/proc/1/status"],
        ["cat", "/proc/1/status"],
        ["sh", "-c", "exit 0"],
        ["sh", "-c", "[ -d /proc/1 ]"],
        ["sh", "-c", "echo ok"],
        ["/bin/sh", "-c", "redis-cli ping || true"],
        ["bash", "-c", "curl -f localhost/healthz; exit 0"],
        ["sh", "-c", "check-db || exit 0"],
    ],
)
def test_commands_that_cannot_fail(command: list[str]) -> None:
    assert never_fails(tuple(command))


@pytest.mark.parametrize(
    "command",
    [
        ["cat", "/tmp/healthy"],
        ["test", "-f", "/tmp/ready"],
        ["sh", "-c", "test -f /tmp/ready && echo ok"],
        ["sh", "-c", "true && curl -f localhost/healthz"],
        ["redis-cli", "ping"],
        ["sh", "-c", "exit 1"],
        ["ls", "/data/ready"],
    ],
)
def test_commands_that_can_fail(command: list[str]) -> None:
    assert not never_fails(tuple(command))


@pytest.mark.parametrize(
    ("words", "seconds"),
    [
        (["grpc_health_probe", "-addr=:5000", "-connect-timeout=5s"], 5.0),
        (["grpc_health_probe", "-addr=:5000", "-rpc-timeout=1500ms"], 1.5),
        (["curl", "--max-time", "10", "http://x"], 10.0),
        (["curl", "-m", "3", "http://x"], 3.0),
        (["wget", "-T", "4", "-q", "http://x"], 4.0),
        (["mysqladmin", "ping", "--connect-timeout=2"], 2.0),
        (["pg_isready", "-t", "7"], 7.0),
        (["redis-cli", "ping"], None),
    ],
)
def test_client_timeouts(words: list[str], seconds: float | None) -> None:
    assert client_timeout(words) == seconds


POD = """\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: app
    image: registry.example/app:1
    ports: [{name: http, containerPort: 8080}]
    resources:
      requests: {cpu: 100m, memory: 2Gi}
      limits: {memory: 1Gi}
    readinessProbe:
      tcpSocket: {port: http}
    livenessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 20
"""


def test_requests_above_limits_and_same_check_on_a_named_port() -> None:
    found = lint_documents(load_text(POD, "p.yaml"), Config())
    rules = {(f.rule, f.path) for f in found}
    # The API server refuses a request above its limit: k8s-invalid, at the request.
    assert ("k8s-invalid", "spec.containers[0].resources.requests") in rules
    # `port: http` and `port: 8080` are one check once the name is resolved.
    assert ("probe-identical", "spec.containers[0].livenessProbe") in rules
