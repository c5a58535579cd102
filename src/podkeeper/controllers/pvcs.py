"""PersistentVolumeClaims bound to local directories, as a local-path provisioner binds them.

A claim is Bound at once to a volume `pvc-<uid>` whose data is the directory
`$PODKEEPER_HOME/volumes/pvc/<namespace>/<claim>` (briefs/contracts.md item 2: the
`persistentVolumeClaim` volume source mounts exactly that directory). The directory
is created owner-only; deleting the claim deletes it (a dynamically provisioned
volume's reclaimPolicy is Delete). Claims a StatefulSet made outlive its pods, and the
set itself unless its persistentVolumeClaimRetentionPolicy says Delete: that is how
its data survives them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from podkeeper.controllers.records import Record, remove_tree

if TYPE_CHECKING:
    from podkeeper.controllers.workloads import WorkloadController

log = logging.getLogger("podkeeper.workloads")


def claim_dir(root: Path, namespace: str, claim: str) -> Path:
    """The claim's data directory under `root` (`<home>/volumes/pvc`)."""
    return root / namespace / claim


def bind(ctl: WorkloadController, rec: Record) -> None:
    spec = rec.spec
    meta = rec.obj["metadata"]
    spec.setdefault("volumeMode", "Filesystem")
    spec["volumeName"] = f"pvc-{rec.uid}"
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    status: dict[str, object] = {
        "phase": "Bound",
        "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
    }
    if storage is not None:
        status["capacity"] = {"storage": str(storage)}
    rec.obj["status"] = status
    meta.setdefault("annotations", {})["pv.kubernetes.io/bind-completed"] = "yes"
    root = ctl.settings.pvc_root
    if root is None:
        return
    path = claim_dir(root, str(meta["namespace"]), str(meta["name"]))
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
    except OSError as err:
        log.warning("could not create the directory of claim %s: %s", meta["name"], err)


def release(ctl: WorkloadController, rec: Record) -> None:
    root = ctl.settings.pvc_root
    if root is None:
        return
    meta = rec.obj["metadata"]
    remove_tree(claim_dir(root, str(meta["namespace"]), str(meta["name"])))
