"""Kubelet events: reasons and exact message formats (`pkg/kubelet/events/event.go`).

The core produces `Event` records; the agent turns them into `v1 Event`
objects and merges repeats into `count` as client-go's recorder does.
"""

from __future__ import annotations

from dataclasses import dataclass

NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """One event about a pod. `field_path` is `spec.containers{app}` style, or None for the pod."""

    type: str
    reason: str
    message: str
    field_path: str | None
    time: float
    component: str = "kubelet"


def probe_failed(probe_type: str, output: str) -> tuple[str, str, str]:
    # pkg/kubelet/prober/prober.go: "%s probe failed: %s"
    return WARNING, "Unhealthy", f"{probe_type} probe failed: {output}"


def probe_errored(probe_type: str, result: str, error: str) -> tuple[str, str, str]:
    # prober.go: "%s probe errored and resulted in %s state: %s"
    return (
        WARNING,
        "Unhealthy",
        f"{probe_type} probe errored and resulted in {result} state: {error}",
    )


def probe_warning(probe_type: str, output: str) -> tuple[str, str, str]:
    # prober.go: "%s probe warning: %s"
    return WARNING, "ProbeWarning", f"{probe_type} probe warning: {output}"


def killing(message: str) -> tuple[str, str, str]:
    return NORMAL, "Killing", message


def back_off(container: str, pod_key: str) -> tuple[str, str, str]:
    # kuberuntime_manager.go doBackOff
    return WARNING, "BackOff", f"Back-off restarting failed container {container} in pod {pod_key}"


def pulled(image: str) -> tuple[str, str, str]:
    # pkg/kubelet/images/image_manager.go: the process runtime has every image "present"
    return NORMAL, "Pulled", f'Container image "{image}" already present on machine'


def created(container: str) -> tuple[str, str, str]:
    return NORMAL, "Created", f"Created container: {container}"  # v1.33+ wording


def started(container: str) -> tuple[str, str, str]:
    return NORMAL, "Started", f"Started container {container}"


def failed(error: str) -> tuple[str, str, str]:
    return WARNING, "Failed", f"Error: {error}"


def failed_post_start() -> tuple[str, str, str]:
    return WARNING, "FailedPostStartHook", "PostStartHook failed"


def failed_pre_stop() -> tuple[str, str, str]:
    return WARNING, "FailedPreStopHook", "PreStopHook failed"


def scheduled(namespace: str, pod: str, node: str) -> tuple[str, str, str]:
    # pkg/scheduler/schedule_one.go: podkeeper is its own (single-node) scheduler
    return NORMAL, "Scheduled", f"Successfully assigned {namespace}/{pod} to {node}"
