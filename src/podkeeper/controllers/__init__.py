"""Controllers: clients of the object store, as in kube-controller-manager.

Deployment, ReplicaSet, Job, CronJob, StatefulSet and DaemonSet drivers live
here. They read and write API objects through the host's typed `ObjectStore`
and create/delete pods only through the agent's `PodHost` (both in
`interface.py`); they never touch processes. Their decisions are pure
functions in `podkeeper.core` (architecture.md, "Controllers are clients of the
object store").
"""
