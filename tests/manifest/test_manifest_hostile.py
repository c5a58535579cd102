"""Issue 13 item 13: hostile input is cheap and always a clear error (exit 2), never a crash.

Each input here took minutes and gigabytes (the alias bomb) or ended in
"internal error" (NUL bytes, 100,000-deep nesting) before. Time is measured
as CPU seconds (`process_time`, children's rusage), so a busy machine does not
make these tests flaky: a regression costs minutes of CPU, not one second.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from podkeeper.manifest import ManifestError, load_text
from podkeeper.manifest import document as doc_module
from podkeeper.manifest.document import MAX_DEPTH, MAX_INPUT_BYTES, read_text

HEAD = "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"


def alias_bomb() -> str:
    """The "billion laughs": 9 levels of 9 aliases, about 450 bytes, 387 million nodes."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return HEAD + "\n".join(lines) + "\n"


def alias_chain(n: int) -> str:
    """Each anchor one level deeper than the last: shallow text, deep once expanded."""
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, n)]
    return HEAD + "\n".join(lines) + "\n"


HOSTILE: dict[str, tuple[Callable[[], str], str]] = {
    "alias-bomb": (alias_bomb, "aliases expand this document"),
    "alias-chain-400": (lambda: alias_chain(400), f"nesting deeper than {MAX_DEPTH}"),
    "alias-cycle": (lambda: HEAD + "spec: &s {x: *s}\n", "contains it"),
    "nul-byte": (lambda: HEAD.replace("name: x", 'name: "a\0b"'), "NUL byte"),
    "nul-byte-json": (lambda: '{"apiVersion": "v1", "kind": "Pod", "x": "\0"}', "NUL byte"),
    "control-char": (lambda: HEAD + 'x: "\x01"\n', "unacceptable character #x0001"),
    "flow-100000": (lambda: HEAD + "x: " + "[" * 100_000 + "]" * 100_000 + "\n", "nesting"),
    "map-100000": (lambda: HEAD + "x: " + "{a: " * 100_000 + "1" + "}" * 100_000, "nesting"),
    "block-100000": (lambda: HEAD + "x:\n" + "- " * 100_000 + "a\n", "nesting"),
    "flow-300": (lambda: HEAD + "x: " + "[" * 300 + "]" * 300 + "\n", f"deeper than {MAX_DEPTH}"),
    "json-100000": (
        lambda: '{"apiVersion": "v1", "kind": "Pod", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        f"nesting deeper than {MAX_DEPTH}",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_loader_refuses_quickly_with_a_clear_message(name: str) -> None:
    make, expected = HOSTILE[name]
    text = make()
    start = time.process_time()
    with pytest.raises(ManifestError) as info:
        load_text(text, "hostile.yaml")
    assert time.process_time() - start < 1.0
    message = str(info.value)
    assert message.startswith("hostile.yaml"), message
    assert expected in message, message
    assert "\n" not in message


def test_bomb_is_small() -> None:
    assert 400 < len(alias_bomb()) < 600


def test_oversize_input_is_refused_before_parsing() -> None:
    text = "# " + "x" * MAX_INPUT_BYTES
    start = time.process_time()
    with pytest.raises(
        ManifestError, match=r"input too large \(32\.0 MiB; podkeeper reads at most"
    ):
        load_text(text, "big.yaml")
    assert time.process_time() - start < 1.0


def test_ordinary_aliases_still_read() -> None:
    text = HEAD + (
        "spec:\n"
        "  containers:\n"
        "  - name: a\n    image: x\n    env: &env [{name: A, value: '1'}, {name: B, value: '2'}]\n"
        "  - name: b\n    image: x\n    env: *env\n"
    )
    (doc,) = load_text(text)
    a, b = doc.obj["spec"]["containers"]
    assert a["env"] == b["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert doc.lines["spec.containers[1].env"] == 11


def test_merge_keys_and_tags_still_read_through_pyyaml() -> None:
    text = HEAD + "base: &b {x: 1, y: 2}\nspec:\n  <<: *b\n  y: 3\n  z: !!str 4\n"
    (doc,) = load_text(text)
    assert doc.obj["spec"] == {"x": 1, "y": 3, "z": "4"}


def test_deep_but_legal_documents_are_read() -> None:
    depth = MAX_DEPTH - 10
    text = HEAD + "x: " + "[" * depth + "]" * depth + "\n"
    (doc,) = load_text(text)
    assert isinstance(doc.obj["x"], list)


def test_one_hostile_document_does_not_hide_the_others() -> None:
    text = HEAD + "---\n" + alias_bomb() + "---\n" + HEAD.replace("name: x", "name: y")
    entries = read_text(text, "f.yaml")
    assert [type(e).__name__ for e in entries] == ["Document", "ManifestError", "Document"]
    error = entries[1]
    assert isinstance(error, ManifestError) and error.index == 1


def test_the_c_parser_reads_when_installed() -> None:
    assert bool(yaml.__with_libyaml__) == doc_module.USES_LIBYAML


def _run_cli(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the real `podkeeper` CLI; return the result and the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, "-m", "podkeeper", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PODKEEPER_HOME": str(cwd / "home"), "PATH": "/usr/bin:/bin"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, cpu


# The CLI starts Python and imports click (about 0.3 s of CPU); the input costs the rest.
CLI_CPU_BUDGET = 1.5


@pytest.mark.parametrize("name", ["alias-bomb", "nul-byte", "flow-100000", "block-100000"])
@pytest.mark.parametrize("command", ["lint", "apply", "up", "simulate"])
def test_real_cli_exits_2_quickly(tmp_path: Path, name: str, command: str) -> None:
    make, expected = HOSTILE[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(make())
    args = {
        "lint": ["lint", path.name],
        "apply": ["apply", "-f", path.name],
        # `up` reads and checks every file before it starts an agent.
        "up": ["up", "-d", "-f", path.name],
        "simulate": ["simulate", path.name],
    }[command]
    result, cpu = _run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "internal error" not in result.stderr
    assert result.stderr.startswith(f"error: {path.name}"), result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert cpu < CLI_CPU_BUDGET, f"{command} {name}: {cpu:.2f} s of CPU"


def test_real_cli_refuses_an_oversize_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("w") as f:
        f.write("# " + "x" * (MAX_INPUT_BYTES + 10) + "\n")
    for args in (["lint", path.name], ["apply", "-f", path.name]):
        result, cpu = _run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "input too large" in result.stderr
        assert cpu < CLI_CPU_BUDGET


def test_json_duplicate_keys_are_reported() -> None:
    text = json.dumps({"apiVersion": "v1", "kind": "Pod"})[:-1] + ', "kind": "Pod"}'
    with pytest.raises(ManifestError, match='key "kind" set twice'):
        load_text(text, "d.json")
