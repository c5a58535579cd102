"""WorkloadController (controllers/workloads.py and its drivers) against a fake PodHost.

No loop, no processes: time is the fake host's `t` (monotonic) and `wall` (epoch);
wake-ups the controller asks for land in `ctl.wakeups`, and the test advances the
clock and syncs again, so back-offs and deadlines of minutes take microseconds.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from podkeeper.controllers.fake import FakeObjectStore
from podkeeper.controllers.interface import ObjectStore
from podkeeper.controllers.workloads import WorkloadController, WorkloadSettings
from podkeeper.manifest import default_object, validate_object

Obj = dict[str, Any]


@dataclass
class FakeHost:
    t: float = 1000.0
    wall: float = datetime(2026, 12, 5, 12, 3, 10, tzinfo=UTC).timestamp()
    pods: dict[tuple[str, str], Obj] = field(default_factory=dict)
    events: list[tuple[str, str, str, str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    ctl: WorkloadController | None = None
    store: ObjectStore = field(default_factory=FakeObjectStore)
    node_name: str = "node"
    home: Path = Path("/nonexistent/podkeeper-home")

    def now(self) -> float:
        return self.t

    def create_pod(self, obj: Obj) -> Obj:
        snap = copy.deepcopy(obj)
        key = (snap["metadata"]["namespace"], snap["metadata"]["name"])
        assert key not in self.pods, f"pod {key} created twice"
        snap["metadata"]["uid"] = f"uid-{key[1]}-{len(self.created)}"
        snap["status"] = {"phase": "Pending"}
        self.pods[key] = snap
        self.created.append(key[1])
        return snap

    def delete_pod(self, namespace: str, name: str, grace: int | None) -> Obj | None:
        pod = self.pods.get((namespace, name))
        if pod is None:
            return None
        pod["metadata"]["deletionTimestamp"] = "2026-12-05T12:00:00Z"
        return pod

    def pod_snapshots(self, namespace: str | None) -> list[Obj]:
        return [p for (ns, _), p in sorted(self.pods.items()) if namespace in (None, ns)]

    def record_object_event(
        self, obj: Obj, type_: str, reason: str, message: str, component: str
    ) -> None:
        self.events.append((obj["kind"], obj["metadata"]["name"], reason, message))

    # -- test controls -----------------------------------------------------

    @property
    def c(self) -> WorkloadController:
        assert self.ctl is not None
        return self.ctl

    def names(self, prefix: str = "", alive: bool = True) -> list[str]:
        return sorted(
            n
            for (_, n), p in self.pods.items()
            if n.startswith(prefix) and not (alive and p["metadata"].get("deletionTimestamp"))
        )

    def set(
        self,
        name: str,
        phase: str,
        ready: bool = False,
        exit_code: int | None = None,
        reason: str = "",
    ) -> None:
        pod = self.pods[("default", name)]
        status: Obj = {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
        if exit_code is not None:
            status["containerStatuses"] = [
                {
                    "name": "app",
                    "state": {"terminated": {"exitCode": exit_code, "reason": reason or "Error"}},
                }
            ]
        pod["status"] = status
        self.c.pod_changed(copy.deepcopy(pod))
        self.c.flush()

    def gone(self) -> None:
        """Every terminating pod ends and goes."""
        for key, pod in list(self.pods.items()):
            if pod["metadata"].get("deletionTimestamp"):
                del self.pods[key]
                self.c.pod_gone(pod)
        self.c.flush()

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.wall += seconds
        due = [k for k, at in self.c.wakeups.items() if at <= self.t]
        for k in due:
            del self.c.wakeups[k]
            self.c.mark(k)
        self.c.flush()

    def apply(self, obj: Obj) -> Obj:
        problems = self.c.validate(obj)
        assert not problems, problems
        # `apply` without its coroutine: no loop, so wake-ups land in `ctl.wakeups`.
        key = self.c.put(obj)
        self.c.flush()
        out = self.c.get(*key)
        assert out is not None
        return out

    def obj(self, kind: str, name: str) -> Obj:
        out = self.c.get(kind, "default", name)
        assert out is not None
        return out


def make_host(tmp_path: Path | None = None, **settings: Any) -> FakeHost:
    host = FakeHost()
    pvc_root = tmp_path / "pvc" if tmp_path is not None else None
    ctl = WorkloadController(
        WorkloadSettings(pvc_root=pvc_root, **settings), wall=lambda: host.wall
    )
    host.ctl = ctl
    ctl._host = host  # started without a loop: the test drives flush and time
    return host


def defaulted(raw: Obj) -> Obj:
    obj = default_object(raw)
    assert not validate_object(obj), validate_object(obj)
    return obj


def job(name: str = "j", **spec: Any) -> Obj:
    pod_spec = spec.pop("pod_spec", {})
    return defaulted(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "app", "image": "x", "command": ["x"]}],
                        **pod_spec,
                    }
                },
                **spec,
            },
        }
    )


def condition(obj: Obj, type_: str) -> Obj | None:
    for c in obj["status"].get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return None


# -- Job -----------------------------------------------------------------------


def test_job_backs_off_exponentially_and_fails_after_the_limit() -> None:
    h = make_host()
    h.apply(job(backoffLimit=2))
    (first,) = h.names("j-")
    h.set(first, "Failed", exit_code=1)
    # 10 s back-off after the first failure: nothing new before that.
    assert h.names("j-") == [first] or len(h.created) == 1
    assert len(h.created) == 1
    h.advance(9.9)
    assert len(h.created) == 1
    h.advance(0.2)
    assert len(h.created) == 2
    h.set(h.created[1], "Failed", exit_code=1)
    h.advance(19.5)
    assert len(h.created) == 2  # 20 s after the second failure
    h.advance(0.6)
    assert len(h.created) == 3
    h.set(h.created[2], "Failed", exit_code=1)
    failed = condition(h.obj("Job", "j"), "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
    h.advance(1000)
    assert len(h.created) == 3
    status = h.obj("Job", "j")["status"]
    assert (status["failed"], status["active"]) == (3, 0)
    assert ("Job", "j", "BackoffLimitExceeded", "Job has reached the specified backoff limit") in (
        h.events
    )


def test_job_pods_are_labelled_and_owned() -> None:
    h = make_host()
    out = h.apply(job())
    uid = out["metadata"]["uid"]
    assert out["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    pod = h.pods[("default", h.created[0])]
    labels = pod["metadata"]["labels"]
    assert labels["job-name"] == "j" and labels["batch.kubernetes.io/controller-uid"] == uid
    ref = pod["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == ("Job", "j", uid, True)
    # A re-apply of the same manifest is no update (the generated fields are kept).
    again = h.apply(job())
    assert (
        again["metadata"]["generation"] == 1
        and again["spec"]["selector"] == out["spec"]["selector"]
    )


def test_job_ignore_rule_retries_without_counting() -> None:
    h = make_host()
    rules = [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [137]}}]
    h.apply(job(backoffLimit=0, podFailurePolicy={"rules": rules}))
    h.set(h.created[0], "Failed", exit_code=137, reason="OOMKilled")
    assert len(h.created) == 2  # at once: an ignored failure has no back-off
    assert condition(h.obj("Job", "j"), "Failed") is None
    h.set(h.created[1], "Succeeded", exit_code=0)
    status = h.obj("Job", "j")["status"]
    assert condition(h.obj("Job", "j"), "Complete") is not None
    assert status["failed"] == 0 and status["succeeded"] == 1


def test_job_fail_job_rule_names_the_container() -> None:
    h = make_host()
    rules = [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]
    h.apply(job(backoffLimit=6, podFailurePolicy={"rules": rules}))
    pod = h.created[0]
    h.set(pod, "Failed", exit_code=42)
    failed = condition(h.obj("Job", "j"), "Failed")
    assert failed is not None and failed["reason"] == "PodFailurePolicy"
    assert failed["message"] == (
        f"Container app for pod default/{pod} failed with exit code 42 matching FailJob rule "
        "at index 0"
    )


def test_indexed_job_pods_carry_their_index() -> None:
    h = make_host()
    h.apply(job("idx", completions=3, parallelism=2, completionMode="Indexed"))
    assert len(h.created) == 2
    for name in h.created:
        pod = h.pods[("default", name)]
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        assert name.startswith(f"idx-{index}-")
        env = pod["spec"]["containers"][0]["env"]
        assert {"name": "JOB_COMPLETION_INDEX", "value": index} in env
    h.set(h.created[0], "Succeeded", exit_code=0)
    assert h.created[2].startswith("idx-2-")
    h.set(h.created[1], "Succeeded", exit_code=0)
    h.set(h.created[2], "Succeeded", exit_code=0)
    out = h.obj("Job", "idx")
    assert out["status"]["completedIndexes"] == "0-2"
    assert condition(out, "Complete") is not None


def test_job_deadline_fails_it_and_stops_its_pods() -> None:
    h = make_host()
    h.apply(job(activeDeadlineSeconds=30))
    h.set(h.created[0], "Running", ready=True)
    h.advance(29)
    assert condition(h.obj("Job", "j"), "Failed") is None
    h.advance(1.5)
    failed = condition(h.obj("Job", "j"), "Failed")
    assert failed is not None and failed["reason"] == "DeadlineExceeded"
    assert h.names("j-") == []  # the running pod is being deleted


def test_job_ttl_after_finished_deletes_job_and_pods() -> None:
    h = make_host()
    h.apply(job(ttlSecondsAfterFinished=60))
    h.set(h.created[0], "Succeeded", exit_code=0)
    assert condition(h.obj("Job", "j"), "Complete") is not None
    h.advance(59)
    assert h.c.get("Job", "default", "j") is not None
    h.advance(2)
    assert h.c.get("Job", "default", "j") is None
    assert h.names("j-") == []


def test_a_job_pod_deleted_by_hand_counts_as_failed() -> None:
    h = make_host()
    h.apply(job(backoffLimit=0))
    pod = h.pods.pop(("default", h.created[0]))
    pod["status"] = {"phase": "Running"}
    h.c.pod_gone(pod)
    h.c.flush()
    failed = condition(h.obj("Job", "j"), "Failed")
    assert failed is not None and failed["reason"] == "BackoffLimitExceeded"
    assert h.obj("Job", "j")["status"]["failed"] == 1


def test_suspended_job_stops_its_pods_and_resumes() -> None:
    h = make_host()
    h.apply(job())
    h.set(h.created[0], "Running", ready=True)
    h.apply(job(suspend=True))
    assert h.names("j-") == []
    cond = condition(h.obj("Job", "j"), "Suspended")
    assert cond is not None and (cond["status"], cond["reason"]) == ("True", "JobSuspended")
    h.gone()
    assert len(h.created) == 1
    h.apply(job(suspend=False))
    cond = condition(h.obj("Job", "j"), "Suspended")
    assert cond is not None and (cond["status"], cond["reason"]) == ("False", "JobResumed")
    assert len(h.created) == 2


# -- StatefulSet -------------------------------------------------------------------


def sts(replicas: int = 3, version: str = "1", **spec: Any) -> Obj:
    return defaulted(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": replicas,
                "serviceName": "web",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "app", "image": f"web:{version}", "command": ["x"]}]
                    },
                },
                **spec,
            },
        }
    )


def test_statefulset_starts_in_order_gated_by_readiness() -> None:
    h = make_host()
    h.apply(sts())
    assert h.created == ["web-0"]
    h.set("web-0", "Running", ready=False)
    assert h.created == ["web-0"]
    h.set("web-0", "Running", ready=True)
    assert h.created == ["web-0", "web-1"]
    h.set("web-1", "Running", ready=True)
    h.set("web-2", "Running", ready=True)
    pod = h.pods[("default", "web-1")]
    assert pod["spec"]["hostname"] == "web-1" and pod["spec"]["subdomain"] == "web"
    status = h.obj("StatefulSet", "web")["status"]
    assert status["readyReplicas"] == 3 and status["currentRevision"] == status["updateRevision"]
    assert pod["metadata"]["labels"]["controller-revision-hash"] == status["updateRevision"]


def test_statefulset_rolls_in_reverse_order_above_the_partition() -> None:
    h = make_host()
    h.apply(sts())
    for i in range(3):
        h.set(f"web-{i}", "Running", ready=True)
    h.apply(
        sts(
            version="2", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
        )
    )
    order = []
    for _ in range(3):
        terminating = [n for n in h.names("web-", alive=False) if n not in h.names("web-")]
        if not terminating:
            break
        order += terminating
        h.gone()
        (new,) = [
            n for n in h.names("web-") if h.pods[("default", n)]["status"]["phase"] == "Pending"
        ]
        h.set(new, "Running", ready=True)
    assert order == ["web-2", "web-1"]  # web-0 is below the partition
    status = h.obj("StatefulSet", "web")["status"]
    assert status["updatedReplicas"] == 2 and status["currentRevision"] != status["updateRevision"]


def test_statefulset_claims_are_created_and_kept(tmp_path: Path) -> None:
    h = make_host(tmp_path)
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    h.apply(sts(replicas=1, volumeClaimTemplates=[claim]))
    pvc = h.obj("PersistentVolumeClaim", "data-web-0")
    assert pvc["status"]["phase"] == "Bound" and pvc["metadata"]["labels"] == {"app": "web"}
    folder = tmp_path / "pvc" / "default" / "data-web-0"
    assert folder.is_dir()
    pod = h.pods[("default", "web-0")]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}} in pod["spec"][
        "volumes"
    ]
    asyncio.run(h.c.delete("StatefulSet", "default", "web", None))
    assert h.names("web-") == []
    assert h.c.get("PersistentVolumeClaim", "default", "data-web-0") is not None
    asyncio.run(h.c.delete("PersistentVolumeClaim", "default", "data-web-0", None))
    assert not folder.exists()


def test_statefulset_retention_policy_delete(tmp_path: Path) -> None:
    h = make_host(tmp_path)
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    policy = {"whenDeleted": "Delete", "whenScaled": "Delete"}
    spec = {"volumeClaimTemplates": [claim], "persistentVolumeClaimRetentionPolicy": policy}
    h.apply(sts(replicas=2, **spec))
    h.set("web-0", "Running", ready=True)
    h.set("web-1", "Running", ready=True)
    h.apply(sts(replicas=1, **spec))
    assert h.c.get("PersistentVolumeClaim", "default", "data-web-1") is not None  # pod still there
    h.gone()
    assert h.c.get("PersistentVolumeClaim", "default", "data-web-1") is None
    assert not (tmp_path / "pvc" / "default" / "data-web-1").exists()
    asyncio.run(h.c.delete("StatefulSet", "default", "web", None))
    assert h.c.get("PersistentVolumeClaim", "default", "data-web-0") is None


# -- CronJob ---------------------------------------------------------------------


def cronjob(schedule: str = "*/5 * * * *", **spec: Any) -> Obj:
    return defaulted(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "cj"},
            "spec": {
                "schedule": schedule,
                "timeZone": "UTC",
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{"name": "app", "image": "x", "command": ["x"]}],
                            }
                        }
                    }
                },
                **spec,
            },
        }
    )


def test_cronjob_time_zone_decides_the_schedule() -> None:
    h = make_host()
    # 12:03:10 UTC is 13:03:10 in Paris: "5 13 * * *" there is 12:05 UTC.
    h.apply(cronjob("5 13 * * *", timeZone="Europe/Paris"))
    h.advance(110)
    assert len(jobs_of(h)) == 1
    assert h.obj("CronJob", "cj")["status"]["lastScheduleTime"] == "2026-12-05T12:05:00Z"


def jobs_of(h: FakeHost) -> list[str]:
    return [j["metadata"]["name"] for j in h.c.list("Job", "default")]


def test_cronjob_creates_a_job_per_schedule_named_by_minute() -> None:
    h = make_host()
    h.apply(cronjob())
    assert jobs_of(h) == []  # created 12:03:10, next run 12:05
    h.advance(110)  # 12:05:00
    minute = int(datetime(2026, 12, 5, 12, 5, tzinfo=UTC).timestamp()) // 60
    assert jobs_of(h) == [f"cj-{minute}"]
    job_obj = h.obj("Job", f"cj-{minute}")
    assert (
        job_obj["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
        == "2026-12-05T12:05:00+00:00"
    )
    assert job_obj["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    cj = h.obj("CronJob", "cj")
    assert cj["status"]["lastScheduleTime"] == "2026-12-05T12:05:00Z"
    assert [a["name"] for a in cj["status"]["active"]] == [f"cj-{minute}"]


def test_cronjob_forbid_skips_and_replace_replaces() -> None:
    h = make_host()
    h.apply(cronjob(concurrencyPolicy="Forbid"))
    h.advance(110)
    h.advance(300)
    assert len(jobs_of(h)) == 1
    assert any(e[2] == "JobAlreadyActive" for e in h.events)
    h.apply(cronjob(concurrencyPolicy="Replace"))
    h.advance(300)
    names = jobs_of(h)
    assert len(names) == 1 and any(e[2] == "SuccessfulDelete" for e in h.events)


def test_cronjob_history_limit_and_suspend() -> None:
    h = make_host()
    h.apply(cronjob(successfulJobsHistoryLimit=1))
    for _ in range(3):
        h.advance(300 if jobs_of(h) else 110)
        for pod in h.names("cj-"):
            if h.pods[("default", pod)]["status"]["phase"] == "Pending":
                h.set(pod, "Succeeded", exit_code=0)
    assert len(jobs_of(h)) == 1
    h.apply(cronjob(successfulJobsHistoryLimit=1, suspend=True))
    before = jobs_of(h)
    h.advance(600)
    assert jobs_of(h) == before


def test_cronjob_scaled_clock_runs_faster() -> None:
    h = make_host(cron_minute_seconds=2.0)
    h.apply(cronjob("* * * * *"))
    for _ in range(7):
        h.advance(1)  # 3.5 scaled minutes in all: 12:04, 12:05 and 12:06 ran
    assert len(jobs_of(h)) == 3


def test_cronjob_runs_only_the_latest_missed_schedule() -> None:
    h = make_host(cron_minute_seconds=2.0)
    h.apply(cronjob("* * * * *"))
    h.advance(7)  # three schedules missed at once: the controller starts the latest only
    assert len(jobs_of(h)) == 1


def test_cronjob_validation() -> None:
    h = make_host()
    bad = cronjob("61 * * * *")
    assert "spec.schedule: Invalid value" in h.c.validate(bad)[0]
    crontz = cronjob("CRON_TZ=Europe/Paris 0 * * * *")
    assert h.c.validate(crontz)[0].endswith(
        "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    )
    tz = cronjob(timeZone="Mars/Base")
    assert "spec.timeZone" in h.c.validate(tz)[0]


# -- DaemonSet -------------------------------------------------------------------


def ds(version: str = "1", **spec: Any) -> Obj:
    return defaulted(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {
                        "containers": [
                            {"name": "app", "image": f"agent:{version}", "command": ["x"]}
                        ]
                    },
                },
                **spec,
            },
        }
    )


def test_daemonset_one_pod_rolling_and_on_delete() -> None:
    h = make_host()
    h.apply(ds())
    (first,) = h.names("agent-")
    h.set(first, "Running", ready=True)
    assert h.obj("DaemonSet", "agent")["status"]["numberReady"] == 1
    h.apply(ds(version="2"))
    assert h.names("agent-") == []  # maxSurge 0: the old one goes first
    h.gone()
    (second,) = h.names("agent-")
    assert second != first
    h.set(second, "Running", ready=True)
    h.apply(ds(version="3", updateStrategy={"type": "OnDelete"}))
    assert h.names("agent-") == [second]  # OnDelete: kept until deleted
    h.pods[("default", second)]["metadata"]["deletionTimestamp"] = "x"
    h.gone()
    (third,) = h.names("agent-")
    image = h.pods[("default", third)]["spec"]["containers"][0]["image"]
    assert image == "agent:3"


# -- restart ---------------------------------------------------------------------


def test_objects_and_pods_survive_a_controller_restart(tmp_path: Path) -> None:
    from podkeeper.runtime.store import Store

    store = Store(tmp_path / "state.db")
    h = make_host()
    h.store = store
    h.apply(job(backoffLimit=1))
    pod = h.pods[("default", h.created[0])]
    store.put_object(pod)
    store.flush()
    again = WorkloadController(wall=lambda: h.wall)
    asyncio.run(again.start(h))  # type: ignore[arg-type]
    assert again.get("Job", "default", "j") is not None
    assert ("default", h.created[0]) in again.pods
    store.close()


@pytest.mark.parametrize("kind", ["Job", "CronJob", "StatefulSet", "DaemonSet"])
def test_every_kind_has_a_printer(kind: str) -> None:
    from podkeeper.api.kinds import BY_KIND

    assert BY_KIND[kind].printer is not None
