"""PODKEEPER_HOME resolution order and folder mode."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from podkeeper.home import resolve_home, socket_path


def test_explicit_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODKEEPER_HOME", str(tmp_path / "env"))
    assert resolve_home(str(tmp_path / "x")) == tmp_path / "x"


def test_env_then_xdg_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PODKEEPER_HOME", str(tmp_path / "env"))
    assert resolve_home(None) == tmp_path / "env"
    monkeypatch.delenv("PODKEEPER_HOME")
    assert resolve_home(None) == tmp_path / "xdg" / "podkeeper"
    monkeypatch.delenv("XDG_STATE_HOME")
    home = resolve_home(None)
    assert home == tmp_path / "h" / ".local" / "state" / "podkeeper"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert socket_path(home) == home / "agent.sock"


def test_secure_home_tightens_agent_files_but_not_a_shared_folder(tmp_path: Path) -> None:
    """Issue 13 item 5; a sticky folder (as /tmp) used as home keeps its mode."""
    import os

    from podkeeper.home import secure_home

    home = tmp_path / "h"
    (home / "pods" / "ns_p_u" / "c").mkdir(parents=True)
    (home / "pods" / "ns_p_u" / "c" / "0.log").write_text("x")
    (home / "state.db").write_text("")
    (home / "other").mkdir()  # not the agent's: left as it is
    for p in (home, home / "pods", home / "state.db", home / "other"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    line = secure_home(home)
    assert line is not None and f"home {home} had mode 0755: made it 0700" in line
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "state.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "pods").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "other").stat().st_mode) == 0o755
    assert secure_home(home) is None  # nothing left to do, nothing said
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    line = secure_home(shared)
    assert line is not None and "left as is" in line
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777


def test_home_agent_gone_needs_proof(tmp_path: Path) -> None:
    """Issue 13 item 8: only a home whose agent is proven dead may be swept."""
    import os
    import subprocess

    from podkeeper.home import hold_agent_lock, home_agent_gone

    home = tmp_path / "h"
    home.mkdir()
    with home_agent_gone(home) as gone:
        assert not gone  # no lock file: not a home we can prove anything about
    with home_agent_gone(tmp_path / "missing") as gone:
        assert not gone
    with home_agent_gone("relative/path") as gone:
        assert not gone
    fd = hold_agent_lock(home)
    assert fd is not None
    with home_agent_gone(home) as gone:
        assert not gone  # its agent holds the lock
    os.close(fd)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (home / "agent.pid").write_text(str(dead.pid))
    with home_agent_gone(home) as gone:
        assert gone
        # Held while the sweep runs: an agent of that home cannot start in between.
        assert hold_agent_lock(home, wait=0.1) is None
    fd = hold_agent_lock(home, wait=0.1)
    assert fd is not None
    os.close(fd)
    (home / "agent.pid").write_text(str(os.getpid()))  # a live process: not proven gone
    with home_agent_gone(home) as gone:
        assert not gone
