"""Cluster-mode explain and triage over recorded API objects, through the official client
and a kubeconfig (issue 15): the situations podkeeper's own agent never produces."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from podkeeper.api.remote import RemoteCluster
from podkeeper.cli import main
from podkeeper.core.apievidence import parse_time
from podkeeper.core.verdict import VerdictKind, diagnose

from . import recorded
from .server import Recorded, serve

pytest.importorskip("kubernetes")

LOGS = {
    (recorded.NS, "migrate-x7k2p", "app", False): (
        'psql: error: connection to server at "db" (10.96.0.12), port 5432 failed: '
        "Connection refused\n"
    ),
    (recorded.NS, "cart-5c9d-x2x", "app", True): "loading catalogue\nbuilding index\n",
    (recorded.NS, "search-0", "app", True): "starting search, warming caches (90 s)\n",
    (recorded.NS, "ledger-0", "app", True): "Started LedgerApplication in 12.4 seconds\n",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Recorded, Path]]:
    rec = Recorded(recorded.everything(), dict(LOGS))
    with serve(rec, tmp_path_factory.mktemp("recorded"), namespace=recorded.NS) as config:
        yield rec, config


def explain(config: Path, pod: str) -> dict[str, object]:
    with RemoteCluster(str(config)) as remote:
        ev = remote.evidence(pod, remote.namespace, None)
    v = diagnose(ev)
    return {
        "kind": v.kind,
        "summary": v.summary,
        "who": v.who,
        "evidence": v.evidence,
        "unseen": v.unseen,
        "next_step": v.next_step,
        "ev": ev,
    }


def test_node_oom_is_the_nodes_oom_killer_not_the_limit(api: tuple[Recorded, Path]) -> None:
    got = explain(api[1], "ledger-0")
    assert got["kind"] == VerdictKind.OOM_NODE
    assert "SystemOOM on worker-1" in str(got["summary"])
    evidence = "\n".join(got["evidence"])  # type: ignore[arg-type]
    assert "System OOM encountered, victim process: java, pid: 41235" in evidence
    assert "no memory limit" in evidence
    assert "memory requests" in str(got["next_step"])


def test_limit_oom_says_the_peak_is_not_visible(api: tuple[Recorded, Path]) -> None:
    got = explain(api[1], "cart-5c9d-x2x")
    assert got["kind"] == VerdictKind.OOM_LIMIT
    assert "256 MiB" in str(got["summary"])
    assert any("memory peak" in u for u in got["unseen"])  # type: ignore[union-attr]
    assert any("metrics.k8s.io" in u for u in got["unseen"])  # type: ignore[union-attr]


def test_eviction_by_a_real_kubelet(api: tuple[Recorded, Path]) -> None:
    got = explain(api[1], "report-6f7b-k8q")
    assert got["kind"] == VerdictKind.EVICTED
    assert "for node pressure (memory)" in str(got["summary"])
    assert recorded.EVICTION_MESSAGE.strip() in str(got["summary"])
    evidence = "\n".join(got["evidence"])  # type: ignore[arg-type]
    assert "node condition MemoryPressure=True (KubeletHasInsufficientMemory)" in evidence
    assert "NodeHasInsufficientMemory" in evidence and "EvictionThresholdMet" in evidence


def test_readiness_holds_the_rollout(api: tuple[Recorded, Path]) -> None:
    got = explain(api[1], "web-5d8f7c9b4-7ghjk")
    assert got["kind"] == VerdictKind.READINESS
    assert "holds the rollout (ProgressDeadlineExceeded)" in str(got["summary"])
    evidence = "\n".join(got["evidence"])  # type: ignore[arg-type]
    assert (
        'Deployment web: Progressing=False ProgressDeadlineExceeded: ReplicaSet "web-5d8f7c9b4"'
        " has timed out progressing." in evidence
    )
    assert "(x120)" in evidence and "statuscode: 503" in evidence


def test_job_backoff_limit_with_the_log_tail(api: tuple[Recorded, Path]) -> None:
    got = explain(api[1], "migrate-x7k2p")
    assert got["kind"] == VerdictKind.CRASH_ON_START
    evidence = "\n".join(got["evidence"])  # type: ignore[arg-type]
    assert (
        "Job migrate: Failed=True BackoffLimitExceeded: Job has reached the specified "
        "backoff limit" in evidence
    )
    assert "last log line: psql: error: connection to server" in evidence


def test_image_pull_names_the_image(api: tuple[Recorded, Path]) -> None:
    got = explain(api[1], "api-7c6d-pull")
    assert got["kind"] == VerdictKind.IMAGE
    assert recorded.IMAGE in str(got["summary"])
    assert any(recorded.PULL_ERROR in e for e in got["evidence"])  # type: ignore[union-attr]


def test_missing_secret_names_the_object_and_key(api: tuple[Recorded, Path]) -> None:
    got = explain(api[1], "api-7c6d-cfg")
    assert got["kind"] == VerdictKind.CONFIG_ERROR
    assert "Secret shop/db-credentials (key 'password') is missing" in str(got["summary"])
    assert any("env DB_PASSWORD" in e for e in got["evidence"])  # type: ignore[union-attr]


def test_liveness_kill_at_start_was_inevitable(api: tuple[Recorded, Path]) -> None:
    got = explain(api[1], "search-0")
    ev = got["ev"]
    assert ev.kill is not None and ev.kill.killed_by == "liveness"  # type: ignore[attr-defined]
    assert got["kind"] == VerdictKind.LIVENESS
    evidence = "\n".join(got["evidence"])  # type: ignore[arg-type]
    assert "the probe timing made it inevitable" in evidence
    assert "context deadline exceeded" in evidence


def test_sigterm_ignored_from_the_timing(api: tuple[Recorded, Path]) -> None:
    got = explain(api[1], "worker-0")
    assert got["kind"] == VerdictKind.SIGTERM_IGNORED
    assert any("who sent the SIGKILL" in u for u in got["unseen"])  # type: ignore[union-attr]


def test_triage_lists_only_and_sorts_by_severity(api: tuple[Recorded, Path]) -> None:
    rec, config = api
    before = len(rec.requests)
    with RemoteCluster(str(config)) as remote:
        rows = remote.triage(None, now=parse_time(recorded.at(31)))
    calls = rec.requests[before:]
    assert all("/log" not in c and c.split("?")[0].count("/") <= 4 for c in calls), calls
    paths = sorted(c.split("?")[0] for c in calls)
    assert paths == sorted(
        [
            "/api/v1/pods",
            "/api/v1/events",
            "/api/v1/nodes",
            "/apis/apps/v1/replicasets",
            "/apis/apps/v1/deployments",
            "/apis/apps/v1/statefulsets",
            "/apis/batch/v1/jobs",
            "/apis/batch/v1/cronjobs",
        ]
    ), calls
    kinds = [(r.pod, r.verdict.kind) for r in rows]
    assert kinds[0] == ("ledger-0", VerdictKind.OOM_NODE)
    assert dict(kinds) == {
        "ledger-0": VerdictKind.OOM_NODE,
        "cart-5c9d-x2x": VerdictKind.OOM_LIMIT,
        "report-6f7b-k8q": VerdictKind.EVICTED,
        "search-0": VerdictKind.LIVENESS,
        "migrate-x7k2p": VerdictKind.CRASH_ON_START,
        "api-7c6d-pull": VerdictKind.IMAGE,
        "api-7c6d-cfg": VerdictKind.CONFIG_ERROR,
        "web-5d8f7c9b4-7ghjk": VerdictKind.READINESS,
    }
    severities = [r.severity for r in rows]
    assert severities == sorted(severities)


def test_cli_explain_through_the_kubeconfig(api: tuple[Recorded, Path]) -> None:
    res = CliRunner().invoke(main, ["explain", "pod", "ledger-0", "--kubeconfig", str(api[1])])
    assert res.exit_code == 0, res.output
    assert "OOMKilled by the node's OOM killer" in res.output
    assert "Could not see:" in res.output
    out = CliRunner().invoke(
        main, ["explain", "pod", "search-0", "--kubeconfig", str(api[1]), "-o", "json"]
    )
    record = json.loads(out.output)["terminations"][0]
    assert record["kind"] == VerdictKind.LIVENESS and record["source"] == "cluster"
    assert record["last_log_lines"] == ["starting search, warming caches (90 s)"]
    missing = CliRunner().invoke(main, ["explain", "pod", "nope", "--kubeconfig", str(api[1])])
    assert missing.exit_code == 1
    assert 'pods "nope" not found' in missing.output


def test_cli_triage_markdown_and_json(api: tuple[Recorded, Path]) -> None:
    res = CliRunner().invoke(main, ["triage", "-A", "--kubeconfig", str(api[1]), "-o", "json"])
    assert res.exit_code == 1  # unhealthy pods found
    doc = json.loads(res.output)
    assert doc["items"] and all("kind" in i and "unseen" in i for i in doc["items"])
    md = CliRunner().invoke(main, ["triage", "--kubeconfig", str(api[1]), "-o", "markdown"])
    assert md.output.startswith("**podkeeper triage** (recorded namespace shop)")
    assert "| `shop/api-7c6d-cfg` |" in md.output


def test_unknown_context_is_one_line(api: tuple[Recorded, Path]) -> None:
    res = CliRunner().invoke(main, ["triage", "--kubeconfig", str(api[1]), "--context", "prod"])
    assert res.exit_code == 1
    assert res.output.strip() == (
        "error: context 'prod' not found in the kubeconfig (contexts: recorded)"
    )
