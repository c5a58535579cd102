"""Choosing the runtime through the CLI, and its errors (no containerd needed)."""

from __future__ import annotations

import pytest

from podkeeper.runtime.selection import requested_runtime, resolve

from .conftest import PK, pod_manifest


@pytest.mark.parametrize(
    ("flag", "env", "want"),
    [
        (None, None, "auto"),
        ("containerd", None, "containerd"),
        (None, "CRI", "cri"),
        ("process", "containerd", "process"),  # the flag wins
    ],
)
def test_requested_runtime(
    flag: str | None, env: str | None, want: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env is None:
        monkeypatch.delenv("PODKEEPER_RUNTIME", raising=False)
    else:
        monkeypatch.setenv("PODKEEPER_RUNTIME", env)
    assert requested_runtime(flag) == want


def test_unknown_runtime_and_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODKEEPER_RUNTIME", "docker")
    with pytest.raises(ValueError, match=r"unknown runtime 'docker' \(from PODKEEPER_RUNTIME\)"):
        requested_runtime()
    # auto stays on the process runtime until pods can choose theirs (runtimeClassName).
    assert resolve("auto") == "process"


def test_image_commands_need_an_image_runtime(pk: PK, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODKEEPER_RUNTIME", "process")
    out = pk.run("image", "ls", check=False)
    assert out.code == 1
    assert "the agent runs the process runtime, which has no images" in out.err
    assert "runtime process" in pk.run("version").out


def test_a_runtime_that_cannot_start_is_one_clear_error(
    pk: PK, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(pk.tmp))  # no containerd, runc or ctr on it
    path = pk.write(
        "p.yaml", [pod_manifest("p", [{"name": "c", "image": "x", "command": ["true"]}])]
    )
    out = pk.run("up", "-d", "--runtime", "containerd", "-f", str(path), check=False)
    assert out.code != 0
    assert "Traceback" not in out.err
    assert "cannot start the container runtime" in out.err
    assert "is not installed" in out.err or "needs root" in out.err
