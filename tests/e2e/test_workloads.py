"""Jobs, CronJobs, StatefulSets and DaemonSets through the real CLI and agent (issue 12).

Timings are scaled down through the agent's environment: the Job controller's
failed-pod back-off starts at PODKEEPER_JOB_BACKOFF_SECONDS (10 s in Kubernetes) and
a CronJob minute lasts PODKEEPER_CRON_MINUTE_SECONDS. Every wait polls with a
generous deadline; nothing asserts on a fixed sleep.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from podkeeper.testing import cgroup_skip_reason

from .conftest import PK, is_ready

pytestmark = pytest.mark.e2e

Obj = dict[str, Any]
ALNUM = "[bcdfghjklmnpqrstvwxz2456789]"


def get(pk: PK, kind: str, name: str | None = None) -> Any:
    args = ["get", kind] + ([name] if name else []) + ["-o", "json"]
    out = json.loads(pk.run(*args).out)
    return out if name else out["items"]


def condition(obj: Obj, type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_ and c.get("status") == "True":
            return dict(c)
    return None


def job_pods(pk: PK, job: str) -> list[Obj]:
    return [
        p for p in get(pk, "pods") if (p["metadata"].get("labels") or {}).get("job-name") == job
    ]


def job(name: str, command: list[str], **spec: Any) -> Obj:
    pod_spec = spec.pop("pod_spec", {})
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "app", "image": "busybox", "command": command}],
                    **pod_spec,
                }
            },
            **spec,
        },
    }


def test_job_backoff_limit_fails_after_three_pods(pk: PK, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODKEEPER_JOB_BACKOFF_SECONDS", "0.5")
    pk.up(job("fail", ["sh", "-c", "echo failing; exit 1"], backoffLimit=2))
    failed = pk.wait_for(
        "the Job to fail", lambda: condition(get(pk, "job", "fail"), "Failed"), timeout=60
    )
    assert failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"
    j = get(pk, "job", "fail")
    assert j["status"]["failed"] == 3 and j["status"].get("succeeded", 0) == 0
    pods = job_pods(pk, "fail")
    assert len(pods) == 3, [p["metadata"]["name"] for p in pods]
    uid = j["metadata"]["uid"]
    for p in pods:
        assert re.fullmatch(f"fail-{ALNUM}{{5}}", p["metadata"]["name"])
        assert p["status"]["phase"] == "Failed"
        assert p["metadata"]["labels"]["controller-uid"] == uid
        refs = p["metadata"]["ownerReferences"]
        assert refs[0]["kind"] == "Job" and refs[0]["uid"] == uid and refs[0]["controller"]
    reasons = [e["reason"] for e in pk.events("fail")]
    assert "BackoffLimitExceeded" in reasons
    table = pk.run("get", "jobs").out
    assert re.search(r"^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE$", table, re.M), table
    assert re.search(r"^fail\s+Failed\s+0/1\s", table, re.M), table
    described = pk.run("describe", "job", "fail").out
    assert "BackoffLimitExceeded" in described and "Backoff Limit:" in described
    # Deleting the Job deletes its pods (background cascading deletion).
    pk.run("delete", "job", "fail")
    pk.wait_for("the Job's pods to go", lambda: not job_pods(pk, "fail"), timeout=60)


@pytest.mark.root
@pytest.mark.skipif(bool(cgroup_skip_reason()), reason=cgroup_skip_reason() or "n/a")
def test_pod_failure_policy_ignores_an_oom_kill(pk: PK) -> None:
    # The first pod leaves a marker where the next one sees it: not /tmp (private to
    # each container) nor the home (hidden), but a host folder of this test.
    shared = Path(tempfile.mkdtemp(prefix="podkeeper-test-", dir="/var/tmp"))
    try:
        _oom_then_success(pk, shared / "second-attempt")
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _oom_then_success(pk: PK, marker: Path) -> None:
    code = (
        "import os, sys\n"
        f"m = {str(marker)!r}\n"
        "if os.path.exists(m):\n"
        "    print('second attempt'); sys.exit(0)\n"
        "open(m, 'w').close()\n"
        "chunks = [b'x' * (10 << 20) for _ in range(20)]\n"
        "print('not killed')\n"
    )
    manifest = job(
        "oomy",
        [],
        backoffLimit=0,
        podFailurePolicy={
            "rules": [{"action": "Ignore", "onExitCodes": {"operator": "In", "values": [137]}}]
        },
    )
    manifest["spec"]["template"]["spec"]["containers"] = [
        {
            "name": "app",
            "image": "python",
            "command": ["python3", "-u", "-c", code],
            "resources": {"limits": {"memory": "64Mi"}},
        }
    ]
    pk.up(manifest)
    done = pk.wait_for(
        "the Job to complete",
        lambda: (
            condition(get(pk, "job", "oomy"), "Complete")
            or condition(get(pk, "job", "oomy"), "Failed")
        ),
        timeout=90,
    )
    assert done["type"] == "Complete", done
    j = get(pk, "job", "oomy")
    # backoffLimit 0: had the OOM kill counted, the Job would have failed.
    assert j["status"].get("failed", 0) == 0 and j["status"]["succeeded"] == 1
    pods = sorted(job_pods(pk, "oomy"), key=lambda p: p["status"]["phase"])
    assert [p["status"]["phase"] for p in pods] == ["Failed", "Succeeded"]
    killed = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (killed["reason"], killed["exitCode"]) == ("OOMKilled", 137)


def test_indexed_job_gives_each_pod_its_index(pk: PK) -> None:
    pk.up(
        job(
            "idx",
            ["sh", "-c", 'echo "index=$JOB_COMPLETION_INDEX"'],
            completions=3,
            parallelism=3,
            completionMode="Indexed",
        )
    )
    pk.wait_for(
        "the Job to complete", lambda: condition(get(pk, "job", "idx"), "Complete"), timeout=60
    )
    j = get(pk, "job", "idx")
    assert j["status"]["succeeded"] == 3 and j["status"]["completedIndexes"] == "0-2"
    assert j["status"].get("completionTime")
    seen = set()
    for p in job_pods(pk, "idx"):
        name = p["metadata"]["name"]
        m = re.fullmatch(f"idx-([0-2])-{ALNUM}{{5}}", name)
        assert m, name
        index = m.group(1)
        assert p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == index
        logs = pk.run("logs", name).out
        assert f"index={index}" in logs
        seen.add(index)
    assert seen == {"0", "1", "2"}
    assert re.search(r"^idx\s+Complete\s+3/3\s", pk.run("get", "jobs").out, re.M)


def test_cronjob_creates_jobs_and_cleans_old_ones(pk: PK, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODKEEPER_CRON_MINUTE_SECONDS", "3")
    pk.up(
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "tick"},
            "spec": {
                "schedule": "*/1 * * * *",
                "successfulJobsHistoryLimit": 2,
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [
                                    {"name": "app", "image": "busybox", "command": ["true"]}
                                ],
                            }
                        }
                    }
                },
            },
        }
    )

    def created() -> list[str]:
        return [
            e["message"].removeprefix("Created job ")
            for e in pk.events("tick")
            if e["reason"] == "SuccessfulCreate"
        ]

    names = pk.wait_for("four scheduled Jobs", lambda: created()[3:] and created(), timeout=60)
    # One Job per scheduled minute, named by the minute since the epoch, in order (a
    # controller late by more than a scaled minute runs only the latest one it missed).
    minutes = [int(m.group(1)) for n in names if (m := re.fullmatch(r"tick-(\d+)", n))]
    assert len(minutes) == len(names) and minutes == sorted(set(minutes)), names

    def cleaned() -> Any:
        jobs = [j for j in get(pk, "jobs") if j["metadata"]["name"].startswith("tick-")]
        done = [j for j in jobs if condition(j, "Complete")]
        deleted = [e for e in pk.events("tick") if e["reason"] == "SuccessfulDelete"]
        return deleted and len(done) <= 2 and jobs

    jobs = pk.wait_for("old Jobs to be cleaned", cleaned, timeout=30)
    for j in jobs:
        ref = j["metadata"]["ownerReferences"][0]
        assert ref["kind"] == "CronJob" and ref["name"] == "tick"
    cj = get(pk, "cronjob", "tick")
    assert cj["status"].get("lastScheduleTime")
    table = pk.run("get", "cronjobs").out
    assert re.search(
        r"^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE$", table, re.M
    ), table
    assert re.search(r"^tick\s+\*/1 \* \* \* \*\s+<none>\s+False\s+\d\s+\d+s\s", table, re.M), table


def statefulset(name: str, replicas: int, version: str = "1", **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "app",
                            "image": "busybox",
                            "command": ["sleep", "3600"],
                            "env": [{"name": "VERSION", "value": version}],
                            # Ready 2 s after start: long enough to see who waits for whom.
                            "readinessProbe": {
                                "exec": {"command": ["true"]},
                                "initialDelaySeconds": 2,
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
            **spec,
        },
    }


def observe(pk: PK, prefix: str) -> dict[str, tuple[bool, bool, str]]:
    """name -> (ready, terminating, uid) of the pods whose name starts with prefix."""
    return {
        p["metadata"]["name"]: (
            is_ready(p),
            bool(p["metadata"].get("deletionTimestamp")),
            p["metadata"]["uid"],
        )
        for p in get(pk, "pods")
        if p["metadata"]["name"].startswith(prefix)
    }


def test_statefulset_ordered_start_and_reverse_rolling_update(pk: PK) -> None:
    pk.up(statefulset("web", 3))
    # OrderedReady: web-N exists only once web-(N-1) is Running and Ready.
    deadline = time.monotonic() + 90
    seen: list[dict[str, tuple[bool, bool, str]]] = []
    while time.monotonic() < deadline:
        now = observe(pk, "web-")
        seen.append(now)
        for i in (1, 2):
            if f"web-{i}" in now:
                assert now.get(f"web-{i - 1}", (False,))[0], (
                    f"web-{i} before web-{i - 1} Ready: {now}"
                )
        if len(now) == 3 and all(r for r, _, _ in now.values()):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the set never became ready: {seen[-1:]}")
    for i in range(3):
        pod = pk.pod(f"web-{i}")
        assert pod["spec"]["hostname"] == f"web-{i}" and pod["spec"]["subdomain"] == "web"
        labels = pod["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == f"web-{i}"
        assert labels["apps.kubernetes.io/pod-index"] == str(i)
    table = pk.run("get", "statefulsets").out
    assert re.search(r"^web\s+3/3\s", table, re.M), table
    before = get(pk, "statefulset", "web")["status"]
    assert before["currentRevision"] == before["updateRevision"]
    old_uids = {n: u for n, (_, _, u) in observe(pk, "web-").items()}

    # The rolling update: web-2, then web-1, then web-0, each after the previous is Ready.
    pk.run("apply", "-f", str(pk.write("v2.yaml", statefulset("web", 3, version="2"))))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        now = observe(pk, "web-")
        unavailable = [
            n for n in ("web-0", "web-1", "web-2") if n not in now or not now[n][0] or now[n][1]
        ]
        assert len(unavailable) <= 1, f"more than maxUnavailable=1 down at once: {now}"
        replaced = {n for n, (_, _, u) in now.items() if u != old_uids.get(n)}
        # Reverse ordinal order: a lower pod is replaced only after every higher one.
        for i in (0, 1):
            if f"web-{i}" in replaced:
                assert all(f"web-{j}" in replaced for j in range(i + 1, 3)), (i, now)
        if len(replaced) == 3 and not unavailable:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the rolling update did not finish")
    deletes = [
        e["message"]
        for e in sorted(pk.events("web"), key=lambda e: e.get("lastTimestamp") or "")
        if e["reason"] == "SuccessfulDelete"
    ]
    assert deletes == [f"delete Pod web-{i} in StatefulSet web successful" for i in (2, 1, 0)], (
        deletes
    )
    out = pk.run("rollout", "status", "statefulset/web", "--timeout", "60s", timeout=90).out
    assert "statefulset rolling update complete 3 pods at revision web-" in out
    after = get(pk, "statefulset", "web")["status"]
    assert after["updateRevision"] != before["updateRevision"]
    for i in range(3):
        hash_label = pk.pod(f"web-{i}")["metadata"]["labels"]["controller-revision-hash"]
        assert hash_label == after["updateRevision"]


def test_statefulset_claim_directory_survives_pod_deletion(pk: PK) -> None:
    manifest = statefulset("db", 1)
    manifest["spec"]["volumeClaimTemplates"] = [
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }
    ]
    pk.up(manifest)
    pk.wait_for("db-0 to be Ready", lambda: observe(pk, "db-0").get("db-0", (False,))[0], 60)
    pod = pk.pod("db-0")
    claims = [v for v in pod["spec"]["volumes"] if v["name"] == "data"]
    assert claims == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]
    pvc = get(pk, "pvc", "data-db-0")
    assert pvc["kind"] == "PersistentVolumeClaim" and pvc["status"]["phase"] == "Bound"
    assert pvc["status"]["capacity"] == {"storage": "1Gi"}
    data = pk.home / "volumes" / "pvc" / "default" / "data-db-0"
    assert data.is_dir() and (data.stat().st_mode & 0o777) == 0o700
    (data / "state.txt").write_text("kept")
    table = pk.run("get", "pvc").out
    assert re.search(r"^data-db-0\s+Bound\s+pvc-[0-9a-f-]+\s+1Gi\s+RWO\s", table, re.M), table
    uid = pod["metadata"]["uid"]
    pk.run("delete", "pod", "db-0")

    # Between the old pod's end and the new one's creation there is no db-0: list, not get.
    def replaced() -> bool:
        now = observe(pk, "db-0").get("db-0")
        return now is not None and now[0] and not now[1] and now[2] != uid

    pk.wait_for("a new db-0 to be Ready", replaced, timeout=60)
    assert (data / "state.txt").read_text() == "kept"
    # Claims outlive their set too (persistentVolumeClaimRetentionPolicy Retain).
    pk.run("delete", "statefulset", "db")
    pk.wait_for("db-0 to go", lambda: not observe(pk, "db-"), timeout=60)
    assert get(pk, "pvc", "data-db-0")["status"]["phase"] == "Bound"
    assert (data / "state.txt").read_text() == "kept"


def test_daemonset_runs_one_pod_and_rolls(pk: PK) -> None:
    manifest = statefulset("agent", 1)
    manifest["kind"] = "DaemonSet"
    for key in ("replicas", "serviceName"):
        manifest["spec"].pop(key)
    pk.up(manifest)

    def one_ready() -> Any:
        pods = {n: v for n, v in observe(pk, "agent-").items() if not v[1]}
        return len(pods) == 1 and all(v[0] for v in pods.values()) and pods

    first = pk.wait_for("one ready daemon pod", one_ready, timeout=60)
    (name,) = first
    assert re.fullmatch(f"agent-{ALNUM}{{5}}", name)
    table = pk.run("get", "daemonsets").out
    assert re.search(r"^agent\s+1\s+1\s+1\s+1\s+1\s+<none>\s", table, re.M), table
    # A rolling update replaces it.
    manifest["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "2"
    pk.run("apply", "-f", str(pk.write("ds2.yaml", manifest)))
    out = pk.run("rollout", "status", "daemonset/agent", "--timeout", "60s", timeout=90).out
    assert 'daemon set "agent" successfully rolled out' in out
    second = pk.wait_for("the new daemon pod", one_ready, timeout=60)
    assert set(second) != set(first)
    assert len([p for p in observe(pk, "agent-").values() if not p[1]]) == 1
    # `rollout restart` stamps the template: one more replacement.
    assert pk.run("rollout", "restart", "ds/agent").out.strip() == "daemonset.apps/agent restarted"
    pk.run("rollout", "status", "daemonset/agent", "--timeout", "60s", timeout=90)
    third = pk.wait_for("the restarted daemon pod", one_ready, timeout=60)
    assert set(third) != set(second)


def test_workload_pods_survive_an_agent_crash_without_duplicates(pk: PK) -> None:
    sleeper = job("long", ["sleep", "3600"])
    pk.up(statefulset("web", 2), sleeper)
    pk.wait_for(
        "both set pods Ready",
        lambda: len([v for v in observe(pk, "web-").values() if v[0]]) == 2,
        90,
    )
    before = {**observe(pk, "web-"), **observe(pk, "long-")}
    assert len(before) == 3
    pid = pk.agent_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    pk.wait_for("the agent to die", lambda: not Path(f"/proc/{pid}").exists(), 30)
    # The next `up` starts a new agent, which adopts the running containers.
    pk.up(statefulset("web", 2), sleeper)

    def settled() -> Any:
        now = {**observe(pk, "web-"), **observe(pk, "long-")}
        return set(now) == set(before) and all(v[0] for k, v in now.items() if k.startswith("web"))

    pk.wait_for("the same pods back", settled, timeout=90)
    after = {**observe(pk, "web-"), **observe(pk, "long-")}
    assert {k: v[2] for k, v in after.items()} == {k: v[2] for k, v in before.items()}
    creates = [e for e in pk.events() if e["reason"] == "SuccessfulCreate"]
    assert sum(int(e.get("count") or 1) for e in creates) == 3, [e["message"] for e in creates]
    assert get(pk, "job", "long")["status"]["active"] == 1
