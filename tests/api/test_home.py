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
