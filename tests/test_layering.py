"""The import rules of architecture.md, checked by walking the source with `ast`.

| module | may import | must not import |
| core | stdlib (no I/O modules), core | everything else |
| manifest, lint, simulate | core, their parser libraries | runtime, api, cli, lb |
| runtime | core, manifest, I/O libraries | api, cli, lint, lb |
| controllers | core, manifest | runtime (the store comes as PodHost.store), api, cli, lint, lb |
| api, lb | runtime, controllers, core, manifest | cli |
| cli | anything | (nothing imports cli) |
Top-level modules (`podkeeper`, `podkeeper.home`, `podkeeper.testing`) are shared helpers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "podkeeper"

FORBIDDEN = {
    "core": {"manifest", "runtime", "api", "cli", "lint", "simulate", "lb"},
    "manifest": {"runtime", "api", "cli", "lint", "simulate", "lb"},
    "lint": {"runtime", "api", "cli", "lb"},
    "simulate": {"runtime", "api", "cli", "lb"},
    "runtime": {"api", "cli", "lint", "lb", "simulate"},
    # Controllers are clients of the object store (architecture.md): they reach pods and
    # stored objects only through the agent's PodHost (and its typed `ObjectStore`), never
    # processes or checkers; see CONTROLLERS_RUNTIME.
    "controllers": {"api", "cli", "lint", "lb", "simulate"},
    "api": {"cli"},
    "lb": {"cli", "api"},
}
# The runtime modules a controller may import: none. The object store reaches it as
# `PodHost.store` (controllers/interface.py `ObjectStore`), not as runtime/store.py.
CONTROLLERS_RUNTIME: set[str] = set()
# The core is pure: time comes in as an argument, never from the clock or the OS.
CORE_FORBIDDEN_STDLIB = {
    "asyncio",
    "os",
    "time",
    "random",
    "socket",
    "subprocess",
    "threading",
    "signal",
    "select",
    "selectors",
    "shutil",
    "sqlite3",
    "pathlib",
    "io",
    "tempfile",
    "urllib",
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def _files() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layers(path: Path) -> None:
    parts = path.relative_to(SRC).parts
    layer = parts[0] if len(parts) > 1 else None
    problems = []
    for line, name in _imports(path):
        segs = name.split(".")
        if segs[0] == "podkeeper" and len(segs) > 1:
            target = segs[1]
            if target == "cli" and layer != "cli" and path.name != "__main__.py":
                problems.append(f"{line}: {name} (nothing imports cli)")
            elif layer == "controllers" and target == "runtime" and name not in CONTROLLERS_RUNTIME:
                problems.append(
                    f"{line}: {name} (controllers reach the runtime only through PodHost)"
                )
            elif layer in FORBIDDEN and target in FORBIDDEN[layer]:
                problems.append(f"{line}: {name} ({layer} must not import {target})")
        elif layer == "core" and segs[0] in CORE_FORBIDDEN_STDLIB:
            problems.append(f"{line}: {name} (core stays pure: no I/O or clock)")
    assert not problems, f"{path.relative_to(SRC)}:\n" + "\n".join(problems)


# Layers whose `Controller`s get a `PodHost` (controllers/interface.py): what they use of it
# is typed there, never probed (architecture.md: no `getattr` for optional capabilities).
HOST_CLIENTS = ("controllers", "lb", "api")


def _probes_host(node: ast.AST) -> bool:
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr")
        and node.args
    ):
        return False
    target = ast.unparse(node.args[0])
    return target == "host" or target.endswith(".host") or target.endswith("_host")


@pytest.mark.parametrize(
    "path",
    [p for p in _files() if p.relative_to(SRC).parts[0] in HOST_CLIENTS],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_controllers_do_not_probe_their_host(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    found = [f"{n.lineno}: {ast.unparse(n)}" for n in ast.walk(tree) if _probes_host(n)]
    assert not found, f"{path.relative_to(SRC)}: type it in PodHost instead:\n" + "\n".join(found)
