"""Loading and checking manifest files locally, before anything is sent to the agent.

An invalid file applies nothing (issue 2): every document is loaded, defaulted
and validated first; the errors name the file, the document and the field.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from podkeeper.cli._common import EXIT_USAGE, CliError

Obj = dict[str, Any]


@dataclass
class Loaded:
    """The objects of the files, in order, and the warnings to show (unimplemented fields)."""

    objects: list[Obj] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: `FILE: document N` of each object, in the same order.
    places: list[str] = field(default_factory=list)


def where(doc: Any, position: int) -> str:
    """`FILE: document N` for a loaded document (N as the loader numbers it)."""
    path = None
    for attr in ("path", "source", "file", "filename"):
        path = getattr(doc, attr, None)
        if path:
            break
    index = None
    for attr in ("index", "document", "doc_index", "number"):
        index = getattr(doc, attr, None)
        if isinstance(index, int):
            break
    if not isinstance(index, int):
        index = position
    item = getattr(doc, "item", None)
    # Numbered as the loader numbers them, so these lines agree with its ManifestError lines.
    suffix = f" item {item}" if isinstance(item, int) else ""
    return f"{path or '<stdin>'}: document {index}{suffix}"


def _invalid_text(manifest: Any, obj: Obj, errors: Sequence[Any]) -> str:
    kind = str(obj.get("kind") or "Object")
    name = str((obj.get("metadata") or {}).get("name") or "")
    try:
        return str(manifest.format_invalid(kind, name, list(errors)))
    except TypeError:
        return str(manifest.format_invalid(obj, list(errors)))


def check_documents(manifest: Any, docs: Sequence[Any]) -> Loaded:
    """Default, validate and look for unimplemented fields in every document.

    Raises CliError (exit 2) listing every invalid document; nothing is returned then."""
    loaded = Loaded()
    errors: list[str] = []
    seen: dict[tuple[str, str, str], str] = {}
    for position, doc in enumerate(docs, start=1):
        obj = doc.obj if hasattr(doc, "obj") else doc
        place = where(doc, position)
        key = _identity(obj)
        if key is not None:
            if key in seen:
                # kubectl apply would send both and the second would win; podkeeper used to
                # drop it while printing "created" twice (issue 13 item 15).
                errors.append(
                    f"error: {place}: {key[0]} {key[1]}/{key[2]} is also defined at "
                    f"{seen[key]}: one object per kind, namespace and name in one apply"
                )
                continue
            seen[key] = place
        defaulted = manifest.default_object(copy.deepcopy(obj))
        if defaulted is None:  # a loader that defaults in place
            defaulted = obj
        problems = list(manifest.validate_object(defaulted) or [])
        if problems:
            errors.append(f"error: {place}: {_invalid_text(manifest, defaulted, problems)}")
            continue
        for path in manifest.unimplemented_fields(obj) or []:
            loaded.warnings.append(
                f"warning: {place}: {path}: field not implemented by podkeeper, ignored"
            )
        loaded.objects.append(obj)
        loaded.places.append(place)
    if errors:
        raise CliError("\n".join(errors), EXIT_USAGE)
    return loaded


def _identity(obj: Any) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of a document, namespace `default` when unset; None
    when it has no name (generateName) or is not an object."""
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        return None
    namespace = (meta.get("namespace") if isinstance(meta, dict) else None) or "default"
    return (str(obj.get("kind") or ""), str(namespace), name)


#: Where each loader function lives when the package does not re-export it.
_HOMES = {
    "load_documents": "document",
    "ManifestError": "document",
    "default_object": "defaults",
    "validate_object": "validation",
    "unimplemented_fields": "unimplemented",
    "format_invalid": "field",
}


class _ManifestAPI:
    """`podkeeper.manifest`'s functions by name, from the package or the module defining them."""

    def __getattr__(self, name: str) -> Any:
        import importlib

        package = importlib.import_module("podkeeper.manifest")
        if hasattr(package, name):
            return getattr(package, name)
        module = importlib.import_module(f"podkeeper.manifest.{_HOMES.get(name, name)}")
        return getattr(module, name)


def load_files(paths: Sequence[str]) -> Loaded:
    """Load `paths` (`-` is stdin), validate all; ManifestError propagates (exit 2)."""
    manifest = _ManifestAPI()
    stdin_text = sys.stdin.read() if "-" in paths else None
    docs = manifest.load_documents(list(paths), stdin_text)
    loaded = check_documents(manifest, docs)
    if not loaded.objects:
        raise CliError(f"error: no objects passed to apply (files: {', '.join(paths)})", EXIT_USAGE)
    return loaded
