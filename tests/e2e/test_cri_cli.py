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
    # auto's default stays the process runtime (interface.md: image is a label there);
    # image pods choose containerd with runtimeClassName, in the same agent.
    assert resolve("auto") == "process"


def test_image_commands_on_a_host_without_containerd_say_why(
    pk: PK, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a process agent `image` opens the containerd runtime beside it (runtime/runtimes.py);
    where that cannot run, one clear error says why and the agent goes on."""
    monkeypatch.setenv("PODKEEPER_RUNTIME", "process")
    monkeypatch.setenv("PATH", str(pk.tmp))  # no containerd, runc or ctr on it
    out = pk.run("image", "ls", check=False)
    assert out.code == 1 and "Traceback" not in out.err
    assert "error: no image runtime: " in out.err
    assert "is not installed" in out.err or "needs root" in out.err
    version = pk.run("version").out
    assert "runtime process" in version and "also" not in version


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
