"""RuntimeClass: which runtime handler runs a pod (`spec.runtimeClassName`), pure.

podkeeper has two built-in `node.k8s.io/v1 RuntimeClass` objects, one per runtime:
`podkeeper-process` (handler `process`: host binaries) and `podkeeper-containerd`
(handler `containerd`: OCI images through the CRI). An agent runs both side by side
(runtime/runtimes.py): its `--runtime` serves pods without a class, and `cri`, an
existing CRI endpoint, serves the `containerd` class.

The kubelet resolves the class when it creates the pod's sandbox
(pkg/kubelet/kuberuntime/kuberuntime_sandbox.go createPodSandbox ->
pkg/kubelet/runtimeclass/runtimeclass_manager.go LookupRuntimeHandler): no class name is
the default handler; an unknown class fails with the lister's NotFound error
(`runtimeclass.node.k8s.io "x" not found`); a handler the runtime does not have fails in
RunPodSandbox (containerd: `failed to get sandbox runtime: no runtime for "x" is
configured`). Either way the pod stays Pending, each attempt a `FailedCreatePodSandBox`
Warning "Failed to create pod sandbox: <error>", retried with back-off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROCESS_CLASS = "podkeeper-process"
CONTAINERD_CLASS = "podkeeper-containerd"

#: The built-in classes: name -> handler.
BUILTIN: Mapping[str, str] = {PROCESS_CLASS: "process", CONTAINERD_CLASS: "containerd"}


class RuntimeClassError(Exception):
    """The pod's RuntimeClass cannot be served here; str() is the kubelet's error text."""


def agent_handler(runtime_name: str) -> str:
    """The handler an agent running `runtime_name` serves (`cri` speaks for containerd)."""
    return "process" if runtime_name == "process" else "containerd"


def lookup_handler(class_name: str | None, classes: Mapping[str, str] = BUILTIN) -> str:
    """The handler of `class_name` ("" for none: the default); RuntimeClassError when no
    such class exists (runtimeclass_manager.go LookupRuntimeHandler: the NotFound error)."""
    if not class_name:
        return ""
    try:
        return classes[class_name]
    except KeyError:
        raise RuntimeClassError(f'runtimeclass.node.k8s.io "{class_name}" not found') from None


def check_pod_runtime(class_name: str | None, runtime_name: str) -> None:
    """Raise RuntimeClassError, with the text the kubelet's event quotes, when a pod naming
    `class_name` cannot run on an agent whose runtime is `runtime_name`."""
    handler = lookup_handler(class_name)
    if not handler or handler == agent_handler(runtime_name):
        return
    if runtime_name == "process":
        raise RuntimeClassError(f'RuntimeHandler "{handler}" not supported')
    # containerd 1.6 pkg/cri/server/sandbox_run.go getSandboxRuntime, as a gRPC status.
    raise RuntimeClassError(
        "rpc error: code = Unknown desc = failed to get sandbox runtime: "
        f'no runtime for "{handler}" is configured'
    )


def runtime_class_objects(created: str) -> list[dict[str, Any]]:
    """The built-in classes as `node.k8s.io/v1 RuntimeClass` objects (cluster-scoped)."""
    return [
        {
            "apiVersion": "node.k8s.io/v1",
            "kind": "RuntimeClass",
            "metadata": {
                "name": name,
                "uid": f"podkeeper-runtimeclass-{handler}",
                "creationTimestamp": created,
                "labels": {"app.kubernetes.io/managed-by": "podkeeper"},
            },
            "handler": handler,
        }
        for name, handler in BUILTIN.items()
    ]
