"""Exit classification and the 0-255 explanation table."""

from __future__ import annotations

import signal

import pytest

from podkeeper.core.exitcode import (
    all_explanations,
    exit_code_for,
    explain,
    explain_reason,
    known_reasons,
    reason_for,
    signal_for,
)


@pytest.mark.parametrize(
    ("returncode", "expected"),
    [(0, 0), (1, 1), (3, 3), (255, 255), (256, 0), (-9, 137), (-15, 143), (-11, 139), (-2, 130)],
)
def test_exit_code_for(returncode: int, expected: int) -> None:
    assert exit_code_for(returncode) == expected


@pytest.mark.parametrize(
    ("code", "oom", "start_error", "reason"),
    [
        (0, False, False, "Completed"),
        (1, False, False, "Error"),
        (137, False, False, "Error"),
        (137, True, False, "OOMKilled"),
        (128, False, True, "StartError"),
        (128, True, True, "StartError"),
        (143, False, False, "Error"),
    ],
)
def test_reason_for(code: int, oom: bool, start_error: bool, reason: str) -> None:
    assert reason_for(code, oom, start_error) == reason


def test_table_is_complete() -> None:
    table = all_explanations()
    assert [e.code for e in table] == list(range(256))
    for e in table:
        assert e.title and e.meaning and e.in_containers
        assert e.to_dict()["code"] == e.code
    with pytest.raises(ValueError):
        explain(256)
    with pytest.raises(ValueError):
        explain(-1)


def test_every_signal_has_its_name() -> None:
    # Every classic signal 1-31 by the name Python (glibc) knows.
    for n in range(1, 32):
        e = explain(128 + n)
        assert e.signal_number == n
        assert e.signal == signal.Signals(n).name or (n == 29 and e.signal == "SIGIO")
    assert explain(128 + signal.SIGRTMIN).signal == "SIGRTMIN"
    assert explain(128 + signal.SIGRTMAX).signal == "SIGRTMAX"
    assert explain(128 + 35).signal == "SIGRTMIN+1"
    assert explain(128 + 63).signal == "SIGRTMAX-1"
    assert explain(193).signal is None


@pytest.mark.parametrize(
    ("code", "needle"),
    [
        (0, "Completed"),
        (1, "uncaught exception"),
        (2, "Go"),
        (126, "cannot"),
        (127, "not found"),
        (128, "StartError"),
        (130, "SIGINT"),
        (134, "SIGABRT"),
        (137, "proof of nothing on its own"),
        (137, "OOM killer, kubelet after grace, or `kill -9`"),
        (139, "SIGSEGV"),
        (143, "SIGTERM"),
        (159, "seccomp"),
        (125, "docker run"),
        (203, "EXIT_EXEC"),
        (200, "EXIT_CHDIR"),
        (243, "EXIT_CREDENTIALS"),
        (78, "EX_CONFIG"),
        (255, "out of range"),
        (255, "ssh"),
        (42, "Application-defined"),
    ],
)
def test_explanations_mention(code: int, needle: str) -> None:
    e = explain(code)
    text = " ".join([e.title, e.meaning, e.in_containers, *e.conventions, e.signal or ""])
    assert needle in text


def test_non_fatal_signals_are_flagged() -> None:
    assert "practically impossible" in explain(128 + 17).meaning  # SIGCHLD
    assert explain(128 + 9).meaning.startswith("Killed by signal 9 (SIGKILL)")


@pytest.mark.parametrize("code", [137, 143, 130, 139, 1, 200])
def test_signal_for(code: int) -> None:
    assert signal_for(code) == (code - 128 if 128 < code <= 192 else None)


@pytest.mark.parametrize(
    "reason",
    [
        "OOMKilled",
        "Error",
        "Completed",
        "StartError",
        "ContainerStatusUnknown",
        "CrashLoopBackOff",
        "Evicted",
        "DeadlineExceeded",
        "ContainerCannotRun",
        "CreateContainerConfigError",
    ],
)
def test_explain_reason(reason: str) -> None:
    r = explain_reason(reason)
    assert r is not None and r.reason == reason and r.meaning and r.next_step
    assert reason in known_reasons()


def test_explain_reason_unknown() -> None:
    assert explain_reason("oomkilled") is None
