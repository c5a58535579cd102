"""Validation of metadata, containers, resources, Deployments, Services and workload templates."""

from __future__ import annotations

from typing import Any

import pytest
from manifest_helpers import deployment, pod, service

from podkeeper.manifest import default_object, format_invalid, pod_template, validate_object

C0 = "spec.containers[0]"
PORT_RANGE = "must be between 1 and 65535, inclusive"
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"  # noqa: E501
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
QUANTITY_MSG = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)


def errors(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_object(default_object(obj))]


def edit(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set a dotted path (`spec.containers.0.name`); value None deletes the key."""
    *parents, last = path.split(".")
    node: Any = obj
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if value is None:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return obj


APP = {"name": "app", "image": "busybox"}

CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("a minimal pod is valid", pod(), []),
    (
        "metadata.name required",
        edit(pod(), "metadata.name", None),
        ["metadata.name: Required value: name or generateName is required"],
    ),
    (
        "generateName stands in for name",
        edit(edit(pod(), "metadata.name", None), "metadata.generateName", "web-"),
        [],
    ),
    (
        "pod name must be a DNS-1123 subdomain",
        edit(pod(), "metadata.name", "Web_1"),
        [f'metadata.name: Invalid value: "Web_1": {SUBDOMAIN_MSG}'],
    ),
    (
        "bad namespace",
        edit(pod(), "metadata.namespace", "a.b"),
        ['metadata.namespace: Invalid value: "a.b": must not contain dots'],
    ),
    (
        "containers required",
        edit(pod(), "spec.containers", []),
        ["spec.containers: Required value"],
    ),
    (
        "container name required",
        edit(pod(), "spec.containers.0.name", None),
        [f"{C0}.name: Required value"],
    ),
    (
        "container name must be a DNS-1123 label",
        edit(pod(), "spec.containers.0.name", "App"),
        [f'{C0}.name: Invalid value: "App": {LABEL_MSG}'],
    ),
    (
        "container name over 63 characters",
        edit(pod(), "spec.containers.0.name", "a" * 64),
        [f'{C0}.name: Invalid value: "{"a" * 64}": must be no more than 63 characters'],
    ),
    (
        "duplicate container names",
        pod(containers=[APP, APP]),
        ['spec.containers[1].name: Duplicate value: "app"'],
    ),
    (
        "init container may not reuse a container name",
        pod(initContainers=[APP]),
        ['spec.initContainers[0].name: Duplicate value: "app"'],
    ),
    (
        "image required",
        edit(pod(), "spec.containers.0.image", None),
        [f"{C0}.image: Required value"],
    ),
    (
        "container port out of range and missing",
        pod(containers=[{**APP, "ports": [{"containerPort": 70000}, {"name": "http"}]}]),
        [
            f"{C0}.ports[0].containerPort: Invalid value: 70000: {PORT_RANGE}",
            f"{C0}.ports[1].containerPort: Required value",
        ],
    ),
    (
        "duplicate and invalid port names",
        pod(
            containers=[
                {
                    **APP,
                    "ports": [
                        {"name": "http", "containerPort": 80},
                        {"name": "http", "containerPort": 81},
                        {"name": "HTTP", "containerPort": 82},
                    ],
                }
            ]
        ),
        [
            f'{C0}.ports[1].name: Duplicate value: "http"',
            f'{C0}.ports[2].name: Invalid value: "HTTP": '
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            f'{C0}.ports[2].name: Invalid value: "HTTP": must contain at least one letter (a-z)',
        ],
    ),
    (
        "port protocol",
        pod(containers=[{**APP, "ports": [{"containerPort": 80, "protocol": "HTTP"}]}]),
        [
            f'{C0}.ports[0].protocol: Unsupported value: "HTTP": '
            'supported values: "SCTP", "TCP", "UDP"'
        ],
    ),
    (
        "env var names",
        pod(containers=[{**APP, "env": [{"name": "A=B", "value": "1"}, {"value": "2"}]}]),
        [
            f'{C0}.env[0].name: Invalid value: "A=B": a valid environment variable name must '
            "consist only of printable ASCII characters other than '='",
            f"{C0}.env[1].name: Required value",
            f'{C0}.env[1].name: Invalid value: "": environment variable name must be non-empty',
        ],
    ),
    (
        "env fieldRef path not supported",
        pod(
            containers=[
                {
                    **APP,
                    "env": [
                        {"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}
                    ],
                }
            ]
        ),
        [
            f'{C0}.env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "status.phase": '
            'supported values: "metadata.name", "metadata.namespace", "metadata.uid", '
            '"spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", '
            '"status.podIP", "status.podIPs"'
        ],
    ),
    (
        "restartPolicy",
        pod(restartPolicy="Sometimes"),
        [
            'spec.restartPolicy: Unsupported value: "Sometimes": '
            'supported values: "Always", "OnFailure", "Never"'
        ],
    ),
    (
        "negative terminationGracePeriodSeconds",
        pod(terminationGracePeriodSeconds=-1),
        [
            "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"  # noqa: E501
        ],
    ),
    (
        "init container restartPolicy only Always",
        pod(initContainers=[{"name": "init", "image": "x", "restartPolicy": "OnFailure"}]),
        [
            'spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": '
            'supported values: "Always"'
        ],
    ),
    (
        "imagePullPolicy",
        pod(containers=[{**APP, "imagePullPolicy": "Sometimes"}]),
        [
            f'{C0}.imagePullPolicy: Unsupported value: "Sometimes": '
            'supported values: "Always", "IfNotPresent", "Never"'
        ],
    ),
    (
        "invalid quantity",
        pod(containers=[{**APP, "resources": {"limits": {"memory": "12Q"}}}]),
        [f'{C0}.resources.limits[memory]: Invalid value: "12Q": {QUANTITY_MSG}'],
    ),
    (
        "requests above limits",
        pod(containers=[{**APP, "resources": {"limits": {"cpu": 1}, "requests": {"cpu": "2"}}}]),
        [
            f'{C0}.resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'  # noqa: E501
        ],
    ),
    (
        "requests above limits print canonical quantities",
        pod(
            containers=[
                {**APP, "resources": {"limits": {"memory": "1Gi"}, "requests": {"memory": "1.5Gi"}}}
            ]
        ),
        [
            f'{C0}.resources.requests: Invalid value: "1536Mi": '
            "must be less than or equal to memory limit of 1Gi"
        ],
    ),
    (
        "unknown resource name (requests were defaulted from limits)",
        pod(containers=[{**APP, "resources": {"limits": {"gpu": 1}}}]),
        [
            f'{C0}.resources.{which}[gpu]: Invalid value: "gpu": '
            "must be a standard resource for containers"
            for which in ("limits", "requests")
        ],
    ),
    (
        "pids (podkeeper extension) is accepted",
        pod(containers=[{**APP, "resources": {"limits": {"pids": 64}}}]),
        [],
    ),
    (
        "bad label value",
        edit(pod(), "metadata.labels", {"app": "-x"}),
        [
            'metadata.labels: Invalid value: "-x": a valid label must be an empty string or consist '  # noqa: E501
            "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
            "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        ],
    ),
    (
        "activeDeadlineSeconds",
        pod(activeDeadlineSeconds=0),
        [
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"  # noqa: E501
        ],
    ),
    (
        "wrong type is reported, not a crash",
        pod(terminationGracePeriodSeconds="thirty"),
        ['spec.terminationGracePeriodSeconds: Invalid value: "thirty": must be an integer'],
    ),
    # Deployments (pkg/apis/apps/validation).
    ("a minimal deployment is valid", deployment(), []),
    (
        "deployment selector required",
        edit(deployment(), "spec.selector", None),
        ["spec.selector: Required value"],
    ),
    (
        "selector does not match template labels",
        edit(deployment(), "spec.template.metadata.labels", {"app": "api", "tier": "be"}),
        [
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"api", '
            '"tier":"be"}: `selector` does not match template `labels`'
        ],
    ),
    (
        "empty selector",
        edit(deployment(), "spec.selector", {"matchLabels": {}}),
        [
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
            "deployment"
        ],
    ),
    (
        "negative replicas",
        edit(deployment(), "spec.replicas", -1),
        ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
    ),
    (
        "maxSurge and maxUnavailable both 0",
        edit(
            deployment(),
            "spec.strategy",
            {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}},
        ),
        [
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "
            'intstr.IntOrString{Type:1, IntVal:0, StrVal:"0%"}: may not be 0 when `maxSurge` is 0'
        ],
    ),
    (
        "bad percentage and over 100%",
        edit(
            deployment(),
            "spec.strategy",
            {"rollingUpdate": {"maxSurge": "x", "maxUnavailable": "150%"}},
        ),
        [
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: "
            'intstr.IntOrString{Type:1, IntVal:0, StrVal:"x"}: a valid percent string must be a '
            "numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for "
            "validation is '[0-9]+%')",
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "
            'intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: must not be greater than 100%',
        ],
    ),
    (
        "Recreate with rollingUpdate",
        edit(deployment(), "spec.strategy", {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}),
        [
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` "
            "is 'Recreate'"
        ],
    ),
    (
        "deployment template must restart Always",
        edit(deployment(), "spec.template.spec.restartPolicy", "Never"),
        [
            'spec.template.spec.restartPolicy: Unsupported value: "Never": '
            'supported values: "Always"'
        ],
    ),
    (
        "deployment template containers validated at their path",
        edit(deployment(), "spec.template.spec.containers.0.image", None),
        ["spec.template.spec.containers[0].image: Required value"],
    ),
    (
        "progressDeadlineSeconds must exceed minReadySeconds",
        edit(edit(deployment(), "spec.minReadySeconds", 700), "spec.progressDeadlineSeconds", 600),
        ["spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"],
    ),
    # Services.
    ("a minimal service is valid", service(), []),
    (
        "service name is a DNS-1035 label",
        edit(service(), "metadata.name", "1web"),
        [f'metadata.name: Invalid value: "1web": {DNS1035_MSG}'],
    ),
    ("service ports required", edit(service(), "spec.ports", []), ["spec.ports: Required value"]),
    (
        "headless service needs no ports",
        edit(edit(service(), "spec.ports", []), "spec.clusterIP", "None"),
        [],
    ),
    (
        "service port out of range",
        edit(service(), "spec.ports.0.port", 0),
        [f"spec.ports[0].port: Invalid value: 0: {PORT_RANGE}"],
    ),
    (
        "service targetPort name invalid",
        edit(service(), "spec.ports.0.targetPort", "Web"),
        [
            'spec.ports[0].targetPort: Invalid value: "Web": '
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
        ],
    ),
    (
        "service protocol",
        edit(service(), "spec.ports.0.protocol", "ICMP"),
        [
            'spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'  # noqa: E501
        ],
    ),
    (
        "several ports need names",
        edit(service(), "spec.ports", [{"port": 80}, {"port": 81, "name": "b"}]),
        ["spec.ports[0].name: Required value"],
    ),
    (
        "nodePort out of range",
        edit(edit(service(), "spec.type", "NodePort"), "spec.ports.0.nodePort", 80),
        [
            "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
            "The range of valid ports is 30000-32767"
        ],
    ),
    ("nodePort not required", edit(service(), "spec.type", "NodePort"), []),
    (
        "nodePort forbidden for ClusterIP",
        edit(service(), "spec.ports.0.nodePort", 30080),
        ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
    ),
    (
        "service type",
        edit(service(), "spec.type", "Magic"),
        [
            'spec.type: Unsupported value: "Magic": '
            'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'
        ],
    ),
]


@pytest.mark.parametrize(("obj", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_object_validation(obj: dict[str, Any], expected: list[str]) -> None:
    assert errors(obj) == expected


TEMPLATE_KINDS = [
    ("ReplicaSet", "apps/v1", "spec.template"),
    ("StatefulSet", "apps/v1", "spec.template"),
    ("DaemonSet", "apps/v1", "spec.template"),
    ("Job", "batch/v1", "spec.template"),
    ("CronJob", "batch/v1", "spec.jobTemplate.spec.template"),
]


def _workload(kind: str, version: str, prefix: str) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": "x"}},
        "spec": {
            "restartPolicy": "Never" if "Job" in kind else "Always",
            "containers": [{"name": "c", "image": "x", "livenessProbe": {"exec": {"command": []}}}],
        },
    }
    obj: dict[str, Any] = {"apiVersion": version, "kind": kind, "metadata": {"name": "w"}}
    if kind == "CronJob":
        obj["spec"] = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        obj["spec"] = {"selector": {"matchLabels": {"app": "x"}}, "template": template}
    return obj


@pytest.mark.parametrize(("kind", "version", "prefix"), TEMPLATE_KINDS)
def test_workload_templates_validate_at_their_path(kind: str, version: str, prefix: str) -> None:
    obj = _workload(kind, version, prefix)
    found = pod_template(obj)
    assert found is not None and found[0] == prefix
    assert errors(obj) == [
        f"{prefix}.spec.containers[0].livenessProbe.exec.command: Required value"
    ]


def test_job_template_must_not_restart_always() -> None:
    obj = _workload("Job", "batch/v1", "spec.template")
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert (
        'spec.template.spec.restartPolicy: Unsupported value: "Always": '
        'supported values: "OnFailure", "Never"'
    ) in errors(obj)


def test_format_invalid_uses_the_qualified_kind() -> None:
    errs = validate_object(default_object(edit(deployment(), "spec.replicas", -1)))
    assert format_invalid("Deployment", "web", errs) == (
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )


def test_pod_template_of_service_is_none() -> None:
    assert pod_template(service()) is None
    obj = pod()
    assert pod_template(obj) == ("", obj)
