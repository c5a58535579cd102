"""Pod admission on the node, pure: may the kubelet run this pod at all?

The kubelet asks its admit handlers before it starts a pod
(pkg/kubelet/kubelet.go `HandlePodAdditions` -> `canAdmitPod`); a refusal is final:
`rejectPod` records a Warning event with the handler's reason and message and sets the
pod's status to phase Failed, reason `<reason>`, message `Pod was rejected: <message>`.
Nothing of the pod runs (no sandbox, no IP).

podkeeper's node is Linux, so of the predicate handler's checks
(pkg/kubelet/lifecycle/predicate.go `predicateAdmitHandler.Admit`) these two apply, in
the kubelet's order:

- `rejectPodAdmissionBasedOnOSSelector`: the pod's *label* `kubernetes.io/os` (the
  kubelet reads `pod.Labels`, not the node selector) differs from the node's OS;
- `rejectPodAdmissionBasedOnOSField`: `spec.os.name` is set and is not the node's OS.

Before them runs the sysctl allowlist (pkg/kubelet/sysctl/allowlist.go, added to the
admit handlers ahead of the predicate handler in kubelet.go `NewMainKubelet`): a pod
asking for a sysctl outside the safe list is rejected with `SysctlForbidden`
(core/sysctls.py).

Resource predicates (OutOfcpu...) do not apply: podkeeper has no node capacity to fill.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from podkeeper.core.sysctls import FORBIDDEN_REASON, forbidden

#: runtime.GOOS of podkeeper's node.
NODE_OS = "linux"
#: v1.LabelOSStable
OS_LABEL = "kubernetes.io/os"

POD_OS_SELECTOR_MISMATCH = "PodOSSelectorNodeLabelDoesNotMatch"
POD_OS_NOT_SUPPORTED = "PodOSNotSupported"


@dataclass(frozen=True)
class Rejection:
    """Why the kubelet refuses the pod: the event's reason and message."""

    reason: str
    message: str

    @property
    def status_message(self) -> str:
        """The pod status message `rejectPod` writes."""
        return "Pod was rejected: " + self.message


def admit(
    labels: Mapping[str, str],
    os_name: str | None,
    sysctls: Sequence[tuple[str, str]] = (),
    host_network: bool = False,
) -> Rejection | None:
    """None when the pod may run here, else the first failing check's `Rejection`.

    `labels` are the pod's labels, `os_name` its `spec.os.name` (None when unset),
    `sysctls` its `securityContext.sysctls`."""
    refused = forbidden(sysctls, host_network)
    if refused is not None:
        return Rejection(FORBIDDEN_REASON, refused)
    selector = labels.get(OS_LABEL)
    if selector is not None and selector != NODE_OS:
        return Rejection(
            POD_OS_SELECTOR_MISMATCH,
            "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label",
        )
    if os_name is not None and os_name != NODE_OS:
        return Rejection(
            POD_OS_NOT_SUPPORTED, "Failed to admit pod as the OS field doesn't match node OS"
        )
    return None
