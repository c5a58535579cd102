"""core.spec objects back to Pod manifests, so the shared scenario table can be applied
through the real CLI exactly as a user's YAML would be."""

from __future__ import annotations

from typing import Any

from podkeeper.core.spec import (
    Container,
    ExecAction,
    GRPCAction,
    Handler,
    HTTPGetAction,
    Pod,
    Probe,
    SleepAction,
    TCPSocketAction,
)


def handler(h: Handler) -> dict[str, Any]:
    if isinstance(h, ExecAction):
        return {"exec": {"command": list(h.command)}}
    if isinstance(h, HTTPGetAction):
        out: dict[str, Any] = {"path": h.path, "port": h.port, "scheme": h.scheme}
        if h.host:
            out["host"] = h.host
        if h.http_headers:
            out["httpHeaders"] = [{"name": x.name, "value": x.value} for x in h.http_headers]
        return {"httpGet": out}
    if isinstance(h, TCPSocketAction):
        return {"tcpSocket": {"port": h.port, **({"host": h.host} if h.host else {})}}
    if isinstance(h, GRPCAction):
        g: dict[str, Any] = {"port": h.port}
        if h.service is not None:
            g["service"] = h.service
        return {"grpc": g}
    assert isinstance(h, SleepAction)
    return {"sleep": {"seconds": h.seconds}}


def probe(p: Probe) -> dict[str, Any]:
    out = handler(p.handler) | {
        "initialDelaySeconds": p.initial_delay_seconds,
        "timeoutSeconds": p.timeout_seconds,
        "periodSeconds": p.period_seconds,
        "successThreshold": p.success_threshold,
        "failureThreshold": p.failure_threshold,
    }
    if p.termination_grace_period_seconds is not None:
        out["terminationGracePeriodSeconds"] = p.termination_grace_period_seconds
    return out


def container(c: Container) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "image": c.image or "local", "command": list(c.command)}
    if c.args:
        out["args"] = list(c.args)
    if c.env:
        out["env"] = [{"name": e.name, "value": e.value or ""} for e in c.env]
    if c.ports:
        out["ports"] = [
            {"containerPort": p.container_port, **({"name": p.name} if p.name else {})}
            for p in c.ports
        ]
    for key, p in (
        ("startupProbe", c.startup_probe),
        ("readinessProbe", c.readiness_probe),
        ("livenessProbe", c.liveness_probe),
    ):
        if p is not None:
            out[key] = probe(p)
    if c.restart_policy:
        out["restartPolicy"] = c.restart_policy
    return out


def manifest(pod: Pod) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [container(c) for c in pod.spec.containers],
        "restartPolicy": pod.spec.restart_policy,
        "terminationGracePeriodSeconds": pod.spec.termination_grace_period_seconds,
    }
    if pod.spec.init_containers:
        spec["initContainers"] = [container(c) for c in pod.spec.init_containers]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod.metadata.name, "labels": dict(pod.metadata.labels)},
        "spec": spec,
    }
