"""`.pre-commit-hooks.yaml`: the hook runs `podkeeper lint` on the files pre-commit passes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


def hook() -> dict[str, object]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (found,) = [h for h in hooks if h["id"] == "podkeeper-lint"]
    assert isinstance(found, dict)
    return found


def test_hook_definition() -> None:
    h = hook()
    assert h["language"] == "python"
    assert h["entry"] == "podkeeper lint"
    assert h["types_or"] == ["yaml", "json"]
    exclude = re.compile(str(h["exclude"]))
    assert exclude.search("charts/web/templates/deployment.yaml")
    assert exclude.search("charts/web/Chart.yaml") and exclude.search("charts/web/values.yaml")
    assert not exclude.search("deploy/web.yaml")


def test_hook_entry_on_a_mixed_commit(tmp_path: Path) -> None:
    # pre-commit passes every staged YAML file: a CI workflow among manifests is no error.
    workflow = tmp_path / "ci.yaml"
    workflow.write_text("name: ci\non: [push]\njobs:\n  test: {runs-on: ubuntu-latest}\n")
    good = DATA / "rules" / "good.yaml"
    bad = DATA / "rules" / "probe-port-undeclared-fail.yaml"
    entry = shlex.split(str(hook()["entry"]))
    script = Path(sys.executable).parent / entry[0]
    ok = subprocess.run(
        [str(script), *entry[1:], str(workflow), str(good)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 not a Kubernetes manifest" in ok.stdout
    failed = subprocess.run(
        [str(script), *entry[1:], str(workflow), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1
    assert "probe-port-undeclared" in failed.stdout
