"""Issue 14, "never drop or abort silently": every input is linted or accounted for.

The fixtures under data/input are written for these tests; each reproduces a
pattern seen in public manifests (a removed API version, a duplicated key
erasing a limit, a List of mixed kinds, kustomize patches, a chart directory).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from click.testing import CliRunner, Result

from podkeeper.cli.lint import lint

DATA = Path(__file__).parent / "data"
INPUT = DATA / "input"


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(lint, list(args), input=stdin)


def as_json(*args: str, stdin: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    result = run("-o", "json", *args, stdin=stdin)
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return result.exit_code, found


def rules_of(found: list[dict[str, Any]], file: str) -> list[tuple[int, str]]:
    return [(f["line"], f["rule"]) for f in found if f["file"].endswith(file)]


def test_one_bad_file_does_not_empty_the_run() -> None:
    good = str(DATA / "rules" / "probe-port-undeclared-fail.yaml")
    bad = str(INPUT / "broken-syntax.yaml")
    code, found = as_json(bad, good)
    assert code == 2  # an unreadable input is invalid input, after everything is reported
    assert (14, "k8s-invalid") in rules_of(found, "broken-syntax.yaml")
    # The document before the syntax error and the other file are still linted.
    assert ("Pod", "first") in {(f["kind"], f["name"]) for f in found}
    assert "probe-port-undeclared" in {r for _, r in rules_of(found, "-fail.yaml")}


def test_missing_api_version_is_a_finding_and_the_next_document_is_linted() -> None:
    code, found = as_json(str(INPUT / "no-apiversion.yaml"))
    assert code == 2
    assert rules_of(found, "no-apiversion.yaml")[0] == (1, "k8s-invalid")
    assert "apiVersion not set" in found[0]["message"]
    assert (17, "probe-port-undeclared") in rules_of(found, "no-apiversion.yaml")


def test_duplicate_key_erasing_a_limit_is_an_error() -> None:
    code, found = as_json(str(INPUT / "duplicate-key.yaml"))
    assert code == 2
    (dup,) = [f for f in found if f["rule"] == "k8s-invalid"]
    assert (dup["line"], dup["severity"]) == (21, "error")
    assert 'key "resources" already set in map (line 15)' in dup["message"]
    # The value read is the later, empty one: the 1Gi limit is gone, and lint says so.
    assert (21, "memory-limit-missing") in rules_of(found, "duplicate-key.yaml")


def test_unknown_kind_in_json_is_skipped_like_yaml() -> None:
    code, found = as_json(str(INPUT / "unknown-kind.json"))
    assert code == 1
    assert [(f["kind"], f["rule"]) for f in found if f["severity"] == "error"] == [
        ("Pod", "probe-port-undeclared")
    ]
    result = run(str(INPUT / "unknown-kind.json"))
    assert "1 Widget not linted" in result.stdout


def test_removed_api_versions_are_reported_and_linted() -> None:
    code, found = as_json(str(DATA / "rules" / "api-removed-fail.yaml"))
    assert code == 1
    removed = [f for f in found if f["rule"] == "api-removed"]
    assert [(f["kind"], f["line"]) for f in removed] == [("Deployment", 1), ("CronJob", 19)]
    assert "extensions/v1beta1" in removed[0]["message"] and "1.16" in removed[0]["message"]
    assert "use apps/v1" in removed[0]["message"]
    assert "batch/v1beta1" in removed[1]["message"] and "1.25" in removed[1]["message"]
    # The template is linted as apps/v1 would read it (selector defaulted as the old API did).
    assert (17, "probe-port-undeclared") in rules_of(found, "api-removed-fail.yaml")
    assert not [f for f in found if f["rule"] == "k8s-invalid"]


def test_replication_controller_template_is_linted() -> None:
    code, found = as_json(str(INPUT / "replication-controller.yaml"))
    assert code == 1
    (port,) = [f for f in found if f["rule"] == "probe-port-undeclared"]
    assert (port["kind"], port["name"], port["line"]) == ("ReplicationController", "old-web", 19)
    assert not [f for f in found if f["rule"] == "k8s-invalid"]


def test_every_list_item_whatever_else_the_list_holds() -> None:
    result = run(str(INPUT / "list-mixed.yaml"))
    assert result.exit_code == 1
    assert "DaemonSet/agent" in result.stdout
    assert "probe-port-undeclared" in result.stdout
    assert (
        # A ConfigMap is linted (validated, k8s-invalid) since podkeeper serves the kind.
        "1 file(s) linted, 2 object(s) linted, 2 skipped (1 ClusterRole not linted, "
        "1 ServiceAccount not linted)"
    ) in result.stdout


def test_kustomize_patches_are_recognised() -> None:
    result = run("-o", "json", str(INPUT / "kustomize"))
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert {f["file"].rsplit("/", 1)[-1] for f in found} == {"deployment.yaml"}
    text = run(str(INPUT / "kustomize")).stdout
    assert "2 kustomize patch (partial object)" in text and "1 kustomization" in text
    # Named one by one, the patches are still recognised through their kustomization.
    patch = run("-o", "json", str(INPUT / "kustomize" / "patch-replicas.yaml"))
    assert (patch.exit_code, json.loads(patch.stdout)) == (0, [])


def test_a_document_without_image_is_a_patch_anywhere(tmp_path: Path) -> None:
    patch = (INPUT / "kustomize" / "patch-resources.yaml").read_text()
    path = tmp_path / "overlay.yaml"
    path.write_text(patch)
    result = run(str(path))
    assert result.exit_code == 0
    assert "1 kustomize patch (partial object)" in result.stdout
    assert "readiness-missing" not in result.stdout and "k8s-invalid" not in result.stdout


def test_directory_walk_skips_charts_and_non_manifests() -> None:
    result = run(str(INPUT))
    assert result.exit_code == 2  # broken-syntax, duplicate-key, no-apiversion
    assert "chart/templates" not in result.stdout  # Go templates are not YAML
    assert "2 not a Kubernetes manifest" in result.stdout  # Chart.yaml, values.yaml
    assert "replication-controller.yaml" in result.stdout
    assert "unknown-kind.json" in result.stdout
    for name in ("broken-syntax.yaml", "duplicate-key.yaml", "no-apiversion.yaml"):
        assert f"error: {INPUT / name}" in result.stderr


def test_stdin_like_helm_template_output() -> None:
    text = "\n---\n".join(
        (INPUT / n).read_text().strip() for n in ("list-mixed.yaml", "replication-controller.yaml")
    )
    result = run("-", stdin=text)
    assert result.exit_code == 1
    assert "<stdin>:" in result.stdout
    assert "1 file(s) linted, 3 object(s) linted, 2 skipped" in result.stdout


def test_sarif_carries_input_errors_and_the_summary() -> None:
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
    result = run("-o", "sarif", str(INPUT / "duplicate-key.yaml"), str(INPUT / "list-mixed.yaml"))
    assert result.exit_code == 2
    log = json.loads(result.stdout)
    jsonschema.Draft7Validator(schema).validate(log)
    results = log["runs"][0]["results"]
    invalid = [r for r in results if r["ruleId"] == "k8s-invalid"]
    assert invalid[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 21
    assert log["runs"][0]["properties"]["objects"] == 3


def test_missing_path_is_reported_and_the_rest_linted(tmp_path: Path) -> None:
    good = str(DATA / "rules" / "good.yaml")
    result = run("-o", "json", str(tmp_path / "nope.yaml"), good)
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    found = json.loads(result.stdout)
    assert {f["rule"] for f in found} == {"k8s-invalid", "startup-window"}
