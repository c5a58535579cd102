"""pod_from_object: from a defaulted manifest to the core's frozen Pod."""

from __future__ import annotations

from podkeeper.core.spec import (
    ContainerPort,
    EnvVar,
    ExecAction,
    GRPCAction,
    HTTPGetAction,
    HTTPHeader,
    Lifecycle,
    Pod,
    Probe,
    ProbeType,
    Resources,
    SleepAction,
    TCPSocketAction,
)
from podkeeper.manifest import (
    default_object,
    load_text,
    pod_from_object,
    pod_template,
    validate_object,
)

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  uid: from-file
  labels: {app: web}
  annotations: {note: hi}
spec:
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 12
  activeDeadlineSeconds: 600
  initContainers:
  - name: migrate
    image: busybox
    command: [sh, -c, "exit 0"]
  - name: proxy
    image: envoy
    restartPolicy: Always
    command: [envoy]
    readinessProbe:
      grpc: {port: 9901, service: ready}
  containers:
  - name: app
    image: python:3.11
    command: [python, -m, http.server]
    args: ["8080"]
    workingDir: /srv
    env:
    - {name: MODE, value: prod}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    ports:
    - {name: http, containerPort: 8080}
    startupProbe:
      tcpSocket: {port: http}
      failureThreshold: 30
      periodSeconds: 1
    readinessProbe:
      httpGet:
        path: /ready
        port: http
        scheme: HTTPS
        httpHeaders: [{name: X-Probe, value: "1"}]
      successThreshold: 2
    livenessProbe:
      exec: {command: [test, -f, /tmp/ok]}
      initialDelaySeconds: 3
      terminationGracePeriodSeconds: 5
    lifecycle:
      preStop: {sleep: {seconds: 2}}
    resources:
      limits: {memory: 128Mi, cpu: 500m, pids: 64}
      requests: {cpu: 250m}
"""


def test_round_trip_to_core_pod() -> None:
    (doc,) = load_text(MANIFEST)
    obj = default_object(doc.obj)
    assert validate_object(obj) == []
    pod = pod_from_object(obj, uid="u-1")
    assert isinstance(pod, Pod)
    meta = pod.metadata
    assert (meta.name, meta.namespace, meta.uid) == ("web", "shop", "u-1")
    assert meta.label_dict == {"app": "web"} and meta.annotations == (("note", "hi"),)
    spec = pod.spec
    assert (spec.restart_policy, spec.termination_grace_period_seconds) == ("OnFailure", 12)
    assert spec.active_deadline_seconds == 600 and spec.host_network is False
    migrate, proxy = spec.init_containers
    assert not migrate.is_sidecar and proxy.is_sidecar
    assert proxy.readiness_probe == Probe(handler=GRPCAction(port=9901, service="ready"))
    app = pod.container("app")
    assert app.command == ("python", "-m", "http.server") and app.args == ("8080",)
    assert app.working_dir == "/srv" and app.image == "python:3.11"
    assert app.image_pull_policy == "IfNotPresent"
    assert app.env == (EnvVar("MODE", "prod"), EnvVar("POD_NAME", field_ref="metadata.name"))
    assert app.ports == (ContainerPort(8080, "http", "TCP"),)
    assert app.probe(ProbeType.STARTUP) == Probe(
        handler=TCPSocketAction(port="http"), period_seconds=1, failure_threshold=30
    )
    assert app.readiness_probe == Probe(
        handler=HTTPGetAction(
            port="http", path="/ready", scheme="HTTPS", http_headers=(HTTPHeader("X-Probe", "1"),)
        ),
        success_threshold=2,
    )
    assert app.liveness_probe == Probe(
        handler=ExecAction(("test", "-f", "/tmp/ok")),
        initial_delay_seconds=3,
        termination_grace_period_seconds=5,
    )
    assert app.lifecycle == Lifecycle(pre_stop=SleepAction(2))
    assert app.resources == Resources(
        limits_memory=128 * 2**20,
        limits_cpu_milli=500,
        requests_memory=128 * 2**20,  # defaulted from limits
        requests_cpu_milli=250,
        limits_pids=64,
    )


def test_uid_from_metadata_when_not_given() -> None:
    (doc,) = load_text(MANIFEST)
    assert pod_from_object(default_object(doc.obj)).metadata.uid == "from-file"


def test_template_wrapped_as_pod() -> None:
    (doc,) = load_text(
        """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      containers:
      - name: c
        image: x
        livenessProbe: {httpGet: {port: 80}}
"""
    )
    found = pod_template(default_object(doc.obj))
    assert found is not None
    _, template = found
    wrapped = {"apiVersion": "v1", "kind": "Pod", **template}
    wrapped["metadata"] = {**template["metadata"], "name": "d-abc12", "namespace": "default"}
    pod = pod_from_object(default_object(wrapped))
    assert pod.metadata.name == "d-abc12"
    assert pod.spec.containers[0].liveness_probe == Probe(handler=HTTPGetAction(port=80))
    assert pod.spec.termination_grace_period_seconds == 30
