"""The kubelet's probe metrics, served like its `/metrics/probes` endpoint.

Names, labels and rules from `pkg/kubelet/prober/prober_manager.go` and
`worker.go doProbe` (spec §7): one `prober_probe_total` increment per probe
execution that returned no error (a Warning counts as `successful`, an
Unknown without error as `failed`); `prober_probe_duration_seconds` observed
for successful results only; a worker's series are deleted when it goes.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from podkeeper.core.result import ProbeOutcome, Result


class ProbeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.total = Counter(
            "prober_probe_total",
            "Cumulative number of a liveness, readiness or startup probe for a container "
            "by result.",
            ["probe_type", "result", "container", "pod", "namespace", "pod_uid"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "prober_probe_duration_seconds",
            "Duration in seconds for a probe response.",
            ["probe_type", "container", "pod", "namespace"],
            registry=self.registry,
        )
        # The label children per pod, looked up once: `labels()` validates and hashes its
        # arguments on every call, which was ~4 % of a probe's CPU under load.
        self._series: dict[str, dict[tuple[str, ...], Any]] = {}

    def observe(
        self,
        probe_type: str,
        container: str,
        pod: str,
        namespace: str,
        pod_uid: str,
        outcome: ProbeOutcome,
        seconds: float,
    ) -> None:
        if outcome.error is not None:
            return  # errored probes are not counted (worker.go step 10)
        ok = outcome.result in (Result.SUCCESS, Result.WARNING)
        result = "successful" if ok else "failed"
        series = self._series.get(pod_uid)
        if series is None:
            series = self._series[pod_uid] = {}
        labels = (probe_type, result, container, pod, namespace, pod_uid)
        child = series.get(labels)
        if child is None:
            child = series[labels] = self.total.labels(*labels)
        child.inc()
        if ok:
            key = (probe_type, container, pod, namespace)
            child = series.get(key)
            if child is None:
                child = series[key] = self.duration.labels(*key)
            child.observe(seconds)

    def forget_pod(self, pod_uid: str) -> None:
        """Delete a gone pod's series, as each worker does when it exits."""
        for labels in self._series.pop(pod_uid, {}):
            metric = self.total if len(labels) == 6 else self.duration
            try:
                metric.remove(*labels)
            except KeyError:
                pass

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)
