"""Fields podkeeper accepts but does not implement are named, never silently dropped."""

from __future__ import annotations

from manifest_helpers import deployment, pod, service

from podkeeper.manifest import unimplemented_fields


def test_pod_fields_not_implemented() -> None:
    obj = pod(
        volumes=[{"name": "v", "emptyDir": {}}, {"name": "n", "nfs": {"server": "s"}}],
        affinity={"nodeAffinity": {}},
        nodeSelector={"disk": "ssd"},
        tolerations=[{"key": "k"}],
        securityContext={"runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        imagePullSecrets=[{"name": "s"}],
        restartPolicy="Never",
    )
    c = obj["spec"]["containers"][0]
    c["volumeMounts"] = [{"name": "v", "mountPath": "/v", "mountPropagation": "None"}]
    c["securityContext"] = {"privileged": True, "seLinuxOptions": {"level": "s0"}}
    c["envFrom"] = [{"configMapRef": {"name": "cm"}}]
    c["env"] = [
        {"name": "A", "value": "1"},
        {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "D", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "E", "valueFrom": {"fileKeyRef": {"volumeName": "v", "path": "p", "key": "k"}}},
    ]
    c["resources"] = {"limits": {"cpu": 1, "memory": "1Gi", "pids": 10, "ephemeral-storage": "1Gi"}}
    c["ports"] = [{"containerPort": 80, "hostPort": 80}]
    c["livenessProbe"] = {"httpGet": {"port": 80}, "sleep": {"seconds": 1}}
    obj["status"] = {"phase": "Running"}
    obj["metadata"]["ownerReferences"] = [{"name": "x"}]
    obj["metadata"]["labels"] = {"anything": "goes"}
    assert unimplemented_fields(obj) == [
        "metadata.ownerReferences",
        "spec.containers[0].volumeMounts[0].mountPropagation",
        "spec.containers[0].securityContext.seLinuxOptions",
        "spec.containers[0].env[4].valueFrom.fileKeyRef",
        "spec.containers[0].resources.limits[ephemeral-storage]",
        "spec.containers[0].livenessProbe.sleep",
        "spec.volumes[1].nfs",
        "spec.affinity",
        "spec.nodeSelector",
        "spec.tolerations",
        "spec.securityContext.seccompProfile",
        "spec.imagePullSecrets",
    ]


def test_implemented_fields_are_not_reported() -> None:
    obj = pod(
        initContainers=[{"name": "i", "image": "x", "restartPolicy": "Always"}],
        terminationGracePeriodSeconds=5,
        hostNetwork=True,
        activeDeadlineSeconds=9,
        dnsPolicy="ClusterFirst",
        schedulerName="default-scheduler",
        nodeName="n",
        securityContext={},  # empty: configures nothing
    )
    obj["metadata"].update(
        {"namespace": "ns", "uid": "u", "creationTimestamp": "t", "resourceVersion": "1"}
    )
    c = obj["spec"]["containers"][0]
    c.update(
        {
            "imagePullPolicy": "Never",
            "args": ["a"],
            "workingDir": "/",
            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
            "startupProbe": {"tcpSocket": {"port": "http"}, "failureThreshold": 30},
            "readinessProbe": {"grpc": {"port": 9}},
            "livenessProbe": {
                "httpGet": {"port": 80, "httpHeaders": [{"name": "X", "value": "y"}]},
                "terminationGracePeriodSeconds": 3,
            },
            "lifecycle": {
                "preStop": {"sleep": {"seconds": 1}},
                "postStart": {"exec": {"command": ["x"]}},
            },
            "resources": {"limits": {"cpu": "1", "pids": 5}, "requests": {"memory": "1Mi"}},
            "terminationMessagePath": "/tmp/t",
            "terminationMessagePolicy": "FallbackToLogsOnError",
        }
    )
    assert unimplemented_fields(obj) == []


def test_deployment_and_service() -> None:
    d = deployment()
    d["spec"].update({"replicas": 2, "paused": False, "strategy": {"type": "Recreate"}})
    d["spec"]["template"]["spec"]["volumes"] = [{"name": "v", "csi": {"driver": "x"}}]
    assert unimplemented_fields(d) == ["spec.template.spec.volumes[0].csi"]
    s = service()
    s["spec"].update({"clusterIP": "None", "externalTrafficPolicy": "Local"})
    s["spec"]["ports"][0]["appProtocol"] = "http"
    assert unimplemented_fields(s) == ["spec.ports[0].appProtocol", "spec.externalTrafficPolicy"]


def test_linted_kinds_report_within_the_pod_template() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "backoffLimit": 2,
            "template": {"spec": {"containers": [{"name": "a", "stdin": True}]}},
        },
    }
    assert unimplemented_fields(job) == ["spec.template.spec.containers[0].stdin"]


def test_config_objects_top_level_fields() -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1"},
        "binaryData": {"b": "AA=="},
        "immutable": True,
        "extra": {"x": 1},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "type": "Opaque",
        "data": {"a": "MQ=="},
        "stringData": {"b": "2"},
        "immutable": False,
    }
    assert unimplemented_fields(cm) == ["extra"]
    assert unimplemented_fields(secret) == []
