"""How long a container gets between SIGTERM and SIGKILL.

Copies `pkg/kubelet/kuberuntime/kuberuntime_container.go` `killContainer` /
`setTerminationGracePeriod` and `minimumGracePeriodInSeconds` in
`kuberuntime_manager.go`.
"""

from __future__ import annotations

from podkeeper.core.spec import Pod, ProbeType

MINIMUM_GRACE_SECONDS = 2  # minimumGracePeriodInSeconds


def choose_grace(
    pod: Pod,
    container_name: str,
    *,
    deletion_grace: int | None,
    killed_by: ProbeType | None,
    override: int | None = None,
) -> int:
    """Grace period in whole seconds before preStop is subtracted.

    Order: a caller override (eviction), the pod's deletion grace, the probe's
    own `terminationGracePeriodSeconds` for a liveness/startup kill (it may be
    larger than the pod's; the kubelet only logs that), else the pod's."""
    if override is not None:
        return override
    if deletion_grace is not None:
        return deletion_grace
    if killed_by in (ProbeType.LIVENESS, ProbeType.STARTUP):
        probe = pod.container(container_name).probe(killed_by)
        if probe is not None and probe.termination_grace_period_seconds is not None:
            return probe.termination_grace_period_seconds
    return pod.spec.termination_grace_period_seconds


def grace_after_pre_stop(grace: int, pre_stop_elapsed: float) -> int:
    """What is left for SIGTERM→SIGKILL after preStop ran for `pre_stop_elapsed` seconds.

    The kubelet subtracts the elapsed time truncated to whole seconds and never
    goes below 2 s (`executePreStopHook`, `minimumGracePeriodInSeconds`)."""
    return max(grace - int(pre_stop_elapsed), MINIMUM_GRACE_SECONDS)


def pre_stop_budget(grace: int) -> float | None:
    """How long preStop may run: at most the grace period; None means do not run it (grace 0)."""
    return float(grace) if grace > 0 else None
