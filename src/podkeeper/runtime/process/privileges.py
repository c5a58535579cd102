"""Dropping a host-process container to its securityContext before it execs.

The process runtime has no runc to do it, so the last step of a container's
(and an exec probe's) argv chain is util-linux `setpriv`, exec-only like the
rest of the chain: it sets the user, group and supplementary groups, the
capability bounding and inheritable sets and no_new_privs, then execs the
command. What to set comes from `core/security.py`, decided as the kubelet and
containerd decide it; this module only turns it into argv.

Capabilities (kernel `capabilities(7)`, "Transformation of capabilities during
execve()"): a root process execs with permitted = inheritable ∪ bounding, so
both sets are cut to the container's set; a process that switched to a non-root
uid has no permitted capabilities left and regains none at exec (there are no
ambient ones), so it keeps only the bounding set, as a non-root container under
runc does.
"""

from __future__ import annotations

import os
import shutil

from podkeeper.core.security import capability_set, no_new_privs, run_as_non_root_error
from podkeeper.core.spec import SecurityContext
from podkeeper.runtime.interface import ConfigError


def check_security(sc: SecurityContext, pod_key: str, container: str) -> None:
    """Raise `ConfigError` with the kubelet's message when `sc` cannot be honoured here.

    A host process has no image USER: with `runAsUser` unset it runs as the
    agent's own uid, which `runAsNonRoot` then judges."""
    err = run_as_non_root_error(sc, os.geteuid(), pod_key, container)
    if err is not None:
        raise ConfigError(err)
    if os.geteuid() != 0:
        own = os.geteuid()
        if sc.run_as_user not in (None, own) or sc.run_as_group not in (None, os.getegid()):
            raise ConfigError(
                f"the agent runs as uid {own} and cannot run container {container!r} as"
                f" uid {sc.run_as_user} / gid {sc.run_as_group}: run the agent as root"
            )


def privilege_prefix(sc: SecurityContext) -> list[str]:
    """The argv prefix that drops to `sc` and execs the rest; [] when nothing changes.

    Only a root agent can change anything (a non-root agent's containers already
    run as that user, with no capabilities); `privileged` keeps everything."""
    if os.geteuid() != 0:
        return []
    caps = capability_set(sc)
    groups = [*sc.supplemental_groups, *([sc.fs_group] if sc.fs_group is not None else [])]
    argv: list[str] = []
    if sc.run_as_user is not None:
        argv += [f"--reuid={sc.run_as_user}"]
    if sc.run_as_group is not None or sc.run_as_user is not None:
        argv += [f"--regid={sc.run_as_group or 0}"]
    if groups:
        argv += [f"--groups={','.join(str(g) for g in dict.fromkeys(groups))}"]
    elif sc.run_as_user is not None or sc.run_as_group is not None:
        argv += ["--clear-groups"]
    if caps is not None:
        names = ",".join(f"+{c.lower()}" for c in sorted(caps))
        kept = f"-all,{names}" if names else "-all"
        non_root = sc.run_as_user not in (None, 0)
        argv += [f"--inh-caps={'-all' if non_root else kept}", f"--bounding-set={kept}"]
    if no_new_privs(sc):
        argv += ["--no-new-privs"]
    if not argv:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ConfigError(
            "securityContext needs util-linux `setpriv` on the host (apt-get install util-linux)"
        )
    return [setpriv, *argv, "--"]
