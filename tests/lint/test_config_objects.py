"""lint and simulate read files that hold ConfigMaps and Secrets beside workloads (issue 12)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from podkeeper.cli.lint import lint
from podkeeper.cli.simulate import simulate

MIXED = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {MODE: prod}
binaryData: {blob: 3sr+}
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret}
stringData: {password: hunter2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: busybox:1.36
        command: [sleep, "1000"]
        resources: {limits: {memory: 64Mi}, requests: {cpu: 10m, memory: 64Mi}}
        envFrom: [{configMapRef: {name: app-config}, prefix: CFG_}]
        env:
        - name: PASSWORD
          valueFrom: {secretKeyRef: {name: app-secret, key: password}}
"""


def test_lint_and_simulate_accept_config_objects(tmp_path: Path) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(MIXED)
    result = CliRunner().invoke(lint, [str(path)])
    assert result.exit_code in (0, 1), result.output
    assert "k8s-invalid" not in result.output
    assert "0 error(s)" in result.output
    assert "3 object(s) linted" in result.output
    sim = CliRunner().invoke(simulate, [str(path)])
    assert sim.exit_code == 0, sim.output
    assert "Deployment/web" in sim.output


def test_lint_reports_an_invalid_secret(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MIXED.replace("stringData: {password: hunter2}", "data: {password: '!!'}"))
    result = CliRunner().invoke(lint, [str(path)])
    assert "k8s-invalid" in result.output
    assert "illegal base64 data at input byte 0" in result.output
    assert "!!" not in result.output.replace("illegal", "")
