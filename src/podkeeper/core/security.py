"""A container's effective security settings, decided as the kubelet decides them.

Pure: the runtimes carry the result out (the process runtime drops to the user
and capability set before exec, the CRI runtime hands it to containerd).

- `effective_security`: `pkg/securitycontext/util.go`
  `DetermineEffectiveSecurityContext`: the pod's `securityContext` supplies
  `runAsUser`, `runAsGroup`, `runAsNonRoot` (and `supplementalGroups`,
  `fsGroup`, which exist only there); a field set on the container wins.
- `run_as_non_root_error`: `pkg/kubelet/kuberuntime/security_context_others.go`
  `verifyRunAsNonRoot`, wrapped as `generateContainerConfig` wraps it
  (`%v (pod: %q, container: %s)`), which becomes CreateContainerConfigError.
- `capability_set`: the default set containerd gives a container
  (`pkg/oci/spec.go`/`contrib/seccomp` `DefaultCapabilities`, the same fourteen
  as Docker's), then `drop` (with `ALL`) and `add`, as containerd's
  `WithCapabilities`/`WithAddedCapabilities`/`WithDroppedCapabilities` apply
  them; `privileged` keeps every capability.
- `no_new_privs`: `pkg/securitycontext/util.go` `AddNoNewPrivileges`: set
  when `allowPrivilegeEscalation` is explicitly false and the container is
  not privileged.
- `has_privileged_container`: `pkg/kubelet/container/helpers.go`
  `HasPrivilegedContainer`, which `generatePodSandboxLinuxConfig`
  (`pkg/kubelet/kuberuntime/kuberuntime_sandbox.go`) puts in the sandbox's
  `LinuxSandboxSecurityContext.privileged`: containerd refuses a privileged
  container in a sandbox that is not ("no privileged container allowed in sandbox").
"""

from __future__ import annotations

from dataclasses import replace

from podkeeper.core.spec import Container, Pod, PodSpec, SecurityContext

#: containerd's (and Docker's) default capabilities, without the CAP_ prefix.
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
)


def effective_security(spec: PodSpec, container: Container) -> SecurityContext:
    """The container's securityContext with the pod-level fields filled in where unset."""
    pod = spec.security_context or SecurityContext()
    own = container.security_context or SecurityContext()
    return replace(
        own,
        run_as_user=own.run_as_user if own.run_as_user is not None else pod.run_as_user,
        run_as_group=own.run_as_group if own.run_as_group is not None else pod.run_as_group,
        run_as_non_root=(
            own.run_as_non_root if own.run_as_non_root is not None else pod.run_as_non_root
        ),
        supplemental_groups=pod.supplemental_groups,
        fs_group=pod.fs_group,
    )


def run_as_non_root_error(
    sc: SecurityContext, image_uid: int | None, pod_key: str, container: str
) -> str | None:
    """The kubelet's refusal when `runAsNonRoot` cannot hold, else None.

    `image_uid` is the uid the container runs as when `runAsUser` is unset (the
    image's USER; for host processes the agent's own uid), None when unknown."""
    if not sc.run_as_non_root:
        return None
    if sc.run_as_user is not None:
        if sc.run_as_user != 0:
            return None
        err = "container's runAsUser breaks non-root policy"
    elif image_uid == 0:
        err = "container has runAsNonRoot and image will run as root"
    else:
        return None
    return f'{err} (pod: "{pod_key}", container: {container})'


def capability_set(sc: SecurityContext) -> frozenset[str] | None:
    """The capability names (no CAP_ prefix) the container keeps; None = every capability."""
    if sc.privileged:
        return None
    drop = {c.upper().removeprefix("CAP_") for c in sc.capabilities_drop}
    add = {c.upper().removeprefix("CAP_") for c in sc.capabilities_add}
    caps = set() if "ALL" in drop else set(DEFAULT_CAPABILITIES) - drop
    if "ALL" in add:
        return None
    return frozenset(caps | add)


def no_new_privs(sc: SecurityContext) -> bool:
    """True when the container must run with no_new_privs set."""
    return sc.allow_privilege_escalation is False and not sc.privileged


def has_privileged_container(pod: Pod) -> bool:
    """Any init (sidecar included) or regular container with `privileged: true`
    (`HasPrivilegedContainer` visits every container type; podkeeper has no ephemeral
    containers): the pod sandbox must then be privileged too."""
    return any(
        c.security_context is not None and c.security_context.privileged is True
        for c in pod.all_containers()
    )
