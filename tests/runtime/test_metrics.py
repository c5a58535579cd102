"""Probe metrics follow the kubelet's counting rules (spec §7)."""

from __future__ import annotations

from podkeeper.core.result import ProbeOutcome, Result
from podkeeper.runtime.metrics import ProbeMetrics


def _text(m: ProbeMetrics) -> str:
    return m.exposition().decode()


def test_counts_by_result_and_skips_errors() -> None:
    m = ProbeMetrics()
    args = ("Liveness", "app", "web", "default", "uid-1")
    m.observe(*args, ProbeOutcome(Result.SUCCESS), 0.01)
    m.observe(*args, ProbeOutcome(Result.WARNING, "redirect"), 0.01)  # Warning is successful
    m.observe(*args, ProbeOutcome(Result.FAILURE, "500"), 0.01)
    m.observe(*args, ProbeOutcome(Result.UNKNOWN), 0.01)  # Unknown without error: failed
    m.observe(*args, ProbeOutcome(Result.UNKNOWN, "", 'port "x" not found'), 0.01)  # not counted
    text = _text(m)
    ok = 'prober_probe_total{container="app",namespace="default",pod="web",pod_uid="uid-1",'
    assert ok + 'probe_type="Liveness",result="successful"} 2.0' in text
    assert ok + 'probe_type="Liveness",result="failed"} 2.0' in text
    # The duration histogram has no result label and sees only successful probes.
    assert (
        'prober_probe_duration_seconds_count{container="app",namespace="default",pod="web",'
        'probe_type="Liveness"} 2.0' in text
    )


def test_series_are_deleted_with_the_pod() -> None:
    m = ProbeMetrics()
    m.observe("Readiness", "app", "web", "default", "uid-2", ProbeOutcome(Result.SUCCESS), 0.1)
    assert 'pod_uid="uid-2"' in _text(m)
    m.forget_pod("uid-2")
    assert 'pod="web"' not in _text(m)
