"""Reading lint input: the manifest loader, tolerant of kinds podkeeper does not run.

`helm template` output mixes ConfigMaps, Secrets, Ingresses... with the
workloads. The manifest loader (rightly, for `apply`) refuses a kind it does
not know with kubectl's `no matches for kind` error; lint must skip those
objects instead. So when a file fails for that reason only, it is read again
one YAML document at a time, each padded with blank lines so that line
numbers stay those of the whole file, and documents of unknown kinds are
dropped. Syntax errors still fail the whole input (exit 2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import yaml

from podkeeper.manifest import Document, ManifestError, load_text

STDIN_NAME = "<stdin>"
_UNKNOWN_KIND = "no matches for kind"


def read_text(path: str, stdin_text: str | None) -> str:
    """The text of one input (`-` is stdin); raises ManifestError naming the path."""
    if path == "-":
        if stdin_text is None:
            raise ManifestError(f"{STDIN_NAME}: no input on stdin", STDIN_NAME)
        return stdin_text
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ManifestError(f'the path "{path}" does not exist', path) from None
    except IsADirectoryError:
        raise ManifestError(f'the path "{path}" is a directory', path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: {err}", path) from None


def _document_spans(text: str) -> list[tuple[int, int, int]]:
    """(start offset, end offset, first line - 1) of each YAML document in a stream."""
    spans: list[tuple[int, int, int]] = []
    start: tuple[int, int] | None = None
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.DocumentStartEvent) and event.start_mark is not None:
            start = (event.start_mark.index, event.start_mark.line)
        elif isinstance(event, yaml.DocumentEndEvent) and start is not None:
            end = event.end_mark.index if event.end_mark is not None else len(text)
            spans.append((start[0], end, start[1]))
            start = None
    return spans


def _known_documents(text: str, file: str) -> list[Document]:
    """Documents one by one, skipping those whose kind the loader does not know."""
    docs: list[Document] = []
    for index, (begin, end, line) in enumerate(_document_spans(text)):
        chunk = "\n" * line + text[begin:end]
        try:
            loaded = load_text(chunk, file)
        except ManifestError as err:
            if _UNKNOWN_KIND in str(err):
                continue
            raise
        docs.extend(dataclasses.replace(d, index=index) for d in loaded)
    return docs


def load(paths: Sequence[str], stdin_text: str | None) -> list[Document]:
    """Every object podkeeper knows in the inputs, in order. Raises ManifestError."""
    docs: list[Document] = []
    for path in paths:
        text = read_text(path, stdin_text)
        file = STDIN_NAME if path == "-" else path
        try:
            docs.extend(load_text(text, file))
        except ManifestError as err:
            if _UNKNOWN_KIND not in str(err) or text.lstrip().startswith(("{", "[")):
                raise
            try:
                docs.extend(_known_documents(text, file))
            except yaml.YAMLError:
                raise err from None
    return docs
