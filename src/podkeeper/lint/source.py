"""Reading lint input: files, directories and stdin, every object accounted for (issue 14).

`helm template` output and install bundles mix ConfigMaps, CRDs, RBAC... with
the workloads. Lint reads each input once with the manifest loader
(`manifest.document.read_text`) and sorts what it finds:

- objects it lints: the kinds podkeeper serves, workloads on removed API
  versions (linted as their replacement, and reported by `api-removed`), and
  ReplicationControllers (linted as the ReplicaSet they are the ancestor of);
- objects it skips, each with the reason (other kinds, kustomizations, and
  kustomize patches: partial objects that a kustomization names or that have
  no container image);
- input errors (syntax, duplicate keys, missing apiVersion, the loader's
  limits): each is reported for its file and line, and the other documents
  and files are still linted.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from podkeeper.manifest import Document, ManifestError, pod_template
from podkeeper.manifest.document import (
    MAX_INPUT_BYTES,
    check_size,
    kind_error,
    read_file,
    read_text,
)

STDIN_NAME = "<stdin>"
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# (apiVersion, kind) no longer served -> (the release that stopped serving it, replacement).
# https://kubernetes.io/docs/reference/using-api/deprecation-guide/
REMOVED_APIS: dict[tuple[str, str], tuple[str, str]] = {
    **{("extensions/v1beta1", k): ("1.16", "apps/v1") for k in ("Deployment", "DaemonSet")},
    ("extensions/v1beta1", "ReplicaSet"): ("1.16", "apps/v1"),
    **{("apps/v1beta1", k): ("1.16", "apps/v1") for k in ("Deployment", "StatefulSet")},
    **{
        ("apps/v1beta2", k): ("1.16", "apps/v1")
        for k in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
    },
    ("batch/v1beta1", "CronJob"): ("1.25", "batch/v1"),
    ("batch/v2alpha1", "CronJob"): ("1.21", "batch/v1"),
}


@dataclass(frozen=True)
class Removed:
    """A workload written for an API version the API server no longer serves."""

    api_version: str
    removed_in: str
    replacement: str


@dataclass(frozen=True)
class Item:
    """One object lint checks: the document as written and the object the rules read.

    `obj` differs from `doc.obj` for a removed API version (read as its
    replacement) and a ReplicationController (read as a ReplicaSet); `kind`
    is always the kind as written, the one findings name.
    """

    doc: Document
    obj: dict[str, Any]
    kind: str
    removed: Removed | None = None


@dataclass(frozen=True)
class Skipped:
    """An object (or file) lint did not check, and why."""

    file: str
    line: int
    kind: str
    name: str
    reason: str


@dataclass
class Loaded:
    """Everything read from the inputs, in input order."""

    items: list[Item] = field(default_factory=list)
    errors: list[ManifestError] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def skip_reasons(self) -> Counter[str]:
        """How many objects were skipped for each reason."""
        return Counter(s.reason for s in self.skipped)


def read_input(path: str, stdin_text: str | None) -> str:
    """The text of one input (`-` is stdin); raises ManifestError naming the path."""
    if path == "-":
        if stdin_text is None:
            raise ManifestError(f"{STDIN_NAME}: no input on stdin", STDIN_NAME)
        check_size(stdin_text, STDIN_NAME)
        return stdin_text
    return read_file(path)


def read_stdin(stream: Any) -> str:
    """stdin, at most one byte over the loader's limit (so the limit error names the size)."""
    text: str = stream.read(MAX_INPUT_BYTES + 1)
    return text


def walk(directory: str) -> list[str]:
    """Manifest files under `directory`, sorted; hidden directories and Helm templates skipped."""
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if _helm_templates(root):
            dirs[:] = []
            continue
        found.extend(os.path.join(root, f) for f in sorted(files) if f.endswith(MANIFEST_SUFFIXES))
    return found


def _helm_templates(directory: str) -> bool:
    # `templates/` of a chart holds Go templates, not YAML: `helm template` renders them.
    parent = os.path.dirname(os.path.normpath(directory))
    return os.path.basename(os.path.normpath(directory)) == "templates" and os.path.isfile(
        os.path.join(parent, "Chart.yaml")
    )


def _kustomize_patches(path: str, text: str) -> set[str]:
    """Absolute paths of the patch files a kustomization names (`patches`,
    `patchesStrategicMerge`, `patchesJson6902`)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return set()
    if not isinstance(data, dict):
        return set()
    base = os.path.dirname(os.path.abspath(path))
    names: list[str] = []
    for key in ("patches", "patchesStrategicMerge", "patchesJson6902"):
        entries = data.get(key)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, str) and "\n" not in entry:
                names.append(entry)
            elif isinstance(entry, dict) and isinstance(entry.get("path"), str):
                names.append(entry["path"])
    return {os.path.normpath(os.path.join(base, n)) for n in names}


def _find_patches(paths: Iterable[str]) -> set[str]:
    """Patch files named by the kustomizations next to (or among) the input files."""
    dirs = {os.path.dirname(os.path.abspath(p)) for p in paths if p != "-"}
    patches: set[str] = set()
    for d in dirs:
        for name in KUSTOMIZATION_FILES:
            k = os.path.join(d, name)
            if os.path.isfile(k):
                try:
                    patches |= _kustomize_patches(k, read_file(k))
                except ManifestError:
                    continue
    return patches


def _containers(template: dict[str, Any]) -> list[Any]:
    spec = template.get("spec")
    out: list[Any] = []
    if isinstance(spec, dict):
        for key in ("containers", "initContainers"):
            value = spec.get(key)
            if isinstance(value, list):
                out.extend(value)
    return out


def _partial(obj: dict[str, Any]) -> bool:
    """A workload no container of which names an image: a patch, not an object to run."""
    found = pod_template(obj)
    if found is None:
        return False
    containers = _containers(found[1])
    return not any(isinstance(c, dict) and c.get("image") for c in containers)


def _as_replica_set(obj: dict[str, Any]) -> dict[str, Any]:
    """A ReplicationController read as the ReplicaSet that replaced it: same template,
    its map selector as `matchLabels`."""
    spec = dict(obj.get("spec") or {}) if isinstance(obj.get("spec"), dict) else {}
    selector = spec.get("selector")
    if isinstance(selector, dict):
        spec["selector"] = {"matchLabels": selector}
    elif selector is None:
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            spec["selector"] = {"matchLabels": labels}
    return {**obj, "apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": spec}


def _classify(doc: Document, patch_file: bool, out: Loaded) -> None:
    kind, version = doc.kind, doc.api_version
    if kind == "Kustomization":
        out.skipped.append(Skipped(doc.file, doc.line, kind, doc.name, "kustomization"))
        return
    if patch_file or (pod_template(_lintable(doc)) is not None and _partial(_lintable(doc))):
        out.skipped.append(
            Skipped(doc.file, doc.line, kind, doc.name, "kustomize patch (partial object)")
        )
        return
    if kind_error(doc) is None:
        out.items.append(Item(doc, doc.obj, kind))
        return
    removed = REMOVED_APIS.get((version, kind))
    if removed is not None:
        obj = _upgraded(doc.obj, removed[1])
        out.items.append(Item(doc, obj, kind, Removed(version, *removed)))
        return
    if kind == "ReplicationController" and version == "v1":
        out.items.append(Item(doc, _as_replica_set(doc.obj), kind))
        return
    out.skipped.append(Skipped(doc.file, doc.line, kind, doc.name, f"{kind} not linted"))


def _upgraded(obj: dict[str, Any], version: str) -> dict[str, Any]:
    """A removed-version workload as its replacement: the old versions defaulted a missing
    `spec.selector` from the template's labels (apps/v1 requires it; api-removed says so)."""
    out = {**obj, "apiVersion": version}
    spec = obj.get("spec")
    if version == "apps/v1" and isinstance(spec, dict) and spec.get("selector") is None:
        template = spec.get("template")
        meta = template.get("metadata") if isinstance(template, dict) else None
        labels = meta.get("labels") if isinstance(meta, dict) else None
        if isinstance(labels, dict) and labels:
            out["spec"] = {**spec, "selector": {"matchLabels": labels}}
    return out


def _lintable(doc: Document) -> dict[str, Any]:
    removed = REMOVED_APIS.get((doc.api_version, doc.kind))
    if removed is not None:
        return _upgraded(doc.obj, removed[1])
    if doc.kind == "ReplicationController":
        return _as_replica_set(doc.obj)
    return doc.obj


def _read_one(file: str, text: str, walked: bool, patch_file: bool, out: Loaded) -> None:
    entries = read_text(text, file)
    # Repositories hold other YAML too (CI config, values files; pre-commit passes them
    # all): a file none of whose documents has an apiVersion or a kind is skipped and
    # counted, not an error. In a directory walk, apiVersion alone (Chart.yaml) is not
    # enough either.
    codes = ("not-object", "no-kind") if walked else ("not-object",)
    if entries and all(isinstance(e, ManifestError) and e.code in codes for e in entries):
        out.skipped.append(Skipped(file, 1, "", "", "not a Kubernetes manifest"))
        return
    out.files.append(file)
    for entry in entries:
        if isinstance(entry, ManifestError):
            out.errors.append(entry)
        else:
            _classify(entry, patch_file, out)


def load(paths: Sequence[str], stdin_text: str | None) -> Loaded:
    """Every object in the inputs (files, directories, `-`), sorted into items, skips, errors.

    Never raises for a bad input: each becomes an entry of `errors`.
    """
    out = Loaded()
    inputs: list[tuple[str, bool]] = []
    for path in paths:
        if path != "-" and os.path.isdir(path):
            inputs.extend((f, True) for f in walk(path))
        else:
            inputs.append((path, False))
    patches = _find_patches(p for p, _ in inputs)
    for path, walked in inputs:
        file = STDIN_NAME if path == "-" else path
        if path != "-" and os.path.basename(path) in KUSTOMIZATION_FILES:
            out.files.append(file)
            out.skipped.append(Skipped(file, 1, "Kustomization", "", "kustomization"))
            continue
        try:
            text = read_input(path, stdin_text)
            patch_file = path != "-" and os.path.normpath(os.path.abspath(path)) in patches
            _read_one(file, text, walked, patch_file, out)
        except ManifestError as err:
            if file not in out.files:
                out.files.append(file)
            out.errors.append(err)
    return out


def from_documents(docs: Iterable[Document]) -> Loaded:
    """A Loaded of already-read documents (for tests and embedding)."""
    out = Loaded()
    for doc in docs:
        if doc.file not in out.files:
            out.files.append(doc.file)
        _classify(doc, False, out)
    return out
