"""The linter reads files holding the workload kinds of issue 12 and their claims: a
StatefulSet with volumeClaimTemplates, a DaemonSet, a CronJob, a Job and a standalone
PersistentVolumeClaim are linted (their pod templates) without an input error."""

from __future__ import annotations

from pathlib import Path

import yaml

from podkeeper.lint.config import Config
from podkeeper.lint.engine import lint_documents
from podkeeper.lint.source import load

TEMPLATE = {
    "metadata": {"labels": {"app": "x"}},
    "spec": {"containers": [{"name": "app", "image": "x:1", "command": ["x"]}]},
}
DOCS = [
    {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "x"}},
            "template": TEMPLATE,
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    },
    {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE},
    },
    {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick"},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {
                "spec": {"template": {"spec": {**TEMPLATE["spec"], "restartPolicy": "Never"}}}
            },
        },
    },
    {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "extra"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    },
]


def test_workload_kinds_and_claims_lint_without_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    path.write_text(yaml.safe_dump_all(DOCS))
    findings = lint_documents(load([str(path)], None), Config())
    assert not [f for f in findings if f.rule == "k8s-invalid"], findings
    linted = {f"{f.kind}/{f.name}" for f in findings}
    assert {"StatefulSet/db", "DaemonSet/agent", "CronJob/tick"} <= linted
