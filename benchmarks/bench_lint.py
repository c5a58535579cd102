"""Issue 14: `podkeeper lint` reads at least 20 MB of manifests per second per core.

The input is an install bundle generated here (CRDs with OpenAPI schemas and
descriptions, RBAC, ConfigMaps, Services and workloads, the mix of the
public corpus the issue measured, where CRDs are most of the bytes) plus the
project's hand-written corpus (`tests/lint/data/corpus`). It is linted the way
the CLI does (files read, parsed once with libyaml, every rule run) and
timed in CPU seconds of this process, so the figure is per core.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import BenchContext, Measurement, benchmark

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "lint" / "data" / "corpus"

_SENTENCE = (
    "the field is set by the controller when the resource is reconciled and read by "
    "clients that need to know whether the desired state has been reached; it is optional "
    "and defaults to the value of the parent object when omitted"
)
_WORDS = _SENTENCE.split(" ")


def _text(n: int, seed: int) -> str:
    return " ".join(_WORDS[(seed + i) % len(_WORDS)] for i in range(n)).capitalize() + "."


def _schema(depth: int, seed: int) -> dict[str, Any]:
    if depth == 0:
        return {"type": "string", "description": _text(18, seed)}
    props = {f"field{seed % 7}{i}": _schema(depth - 1, seed + i) for i in range(4)}
    return {"type": "object", "description": _text(30, seed), "properties": props}


def bundle(target_bytes: int, crds: bool = True) -> str:
    """A multi-document install bundle of about `target_bytes`: CRDs, RBAC, workloads
    (workloads and RBAC only when not `crds`)."""
    import yaml

    docs: list[dict[str, Any]] = []
    size = 0
    i = 0
    while size < target_bytes:
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets{i}.example.com"},
            "spec": {
                "group": "example.com",
                "names": {"kind": f"Widget{i}", "plural": f"widgets{i}"},
                "scope": "Namespaced",
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {"openAPIV3Schema": _schema(4, i)},
                    }
                ],
            },
        }
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"widget{i}-editor"},
            "rules": [{"apiGroups": ["example.com"], "resources": [f"widgets{i}"], "verbs": ["*"]}],
        }
        deploy = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"widget{i}-controller", "labels": {"app": f"w{i}"}},
            "spec": {
                "selector": {"matchLabels": {"app": f"w{i}"}},
                "template": {
                    "metadata": {"labels": {"app": f"w{i}"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "manager",
                                "image": f"registry.example/widget-controller:{i}",
                                "args": ["--leader-elect", "--metrics-bind-address=:8080"],
                                "ports": [{"name": "metrics", "containerPort": 8080}],
                                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8081}},
                                "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8081}},
                                "resources": {
                                    "requests": {"cpu": "10m", "memory": "64Mi"},
                                    "limits": {"memory": "128Mi"},
                                },
                            }
                        ]
                    },
                },
            },
        }
        for doc in (crd, role, deploy) if crds else (role, deploy):
            docs.append(doc)
            size += len(yaml.safe_dump(doc))
        i += 1
    return yaml.safe_dump_all(docs, sort_keys=False)


def lint_paths(paths: list[str]) -> int:
    """Lint as `podkeeper lint` does (collector off during the run); the number of findings."""
    from podkeeper.lint.config import Config
    from podkeeper.lint.engine import lint_documents
    from podkeeper.lint.source import load

    collecting = gc.isenabled()
    gc.disable()
    try:
        return len(lint_documents(load(paths, None), Config()))
    finally:
        if collecting:
            gc.enable()


def _best_rate(ctx: BenchContext, text: str, share: float) -> float:
    """MB/s/core of the best run linting `text` (plus the corpus), within `share` of the budget."""
    stop = time.monotonic() + ctx.remaining() * share
    with tempfile.TemporaryDirectory(prefix="podkeeper-lint-bench-") as tmp:
        path = Path(tmp) / "bundle.yaml"
        path.write_text(text, encoding="utf-8")
        paths = [str(path), str(CORPUS)]
        total = path.stat().st_size + sum(p.stat().st_size for p in CORPUS.glob("*.yaml"))
        best = float("inf")
        runs = 0
        while runs < 2 or (time.monotonic() < stop and runs < 5):
            gc.collect()
            start = time.process_time()
            lint_paths(paths)
            best = min(best, time.process_time() - start)
            runs += 1
    return total / best / 1e6


@benchmark("lint.throughput", quick_budget_s=30, full_budget_s=90)
def throughput(ctx: BenchContext) -> list[Measurement]:
    size = 2_000_000 if ctx.quick else 8_000_000
    bundle_rate = _best_rate(ctx, bundle(size), 0.4)
    # Every object a workload: the rules, not the parser, set the pace (no target).
    workload_rate = _best_rate(ctx, bundle(size // 4, crds=False), 0.8)
    return [
        Measurement("lint.throughput", bundle_rate, "MB/s/core", target=">= 20", better="higher"),
        Measurement("lint.throughput_workloads_only", workload_rate, "MB/s/core"),
    ]
