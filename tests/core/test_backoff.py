"""CrashLoopBackOff table (`flowcontrol/backoff.go` as `pkg/kubelet/kubelet.go` configures it)."""

from __future__ import annotations

import pytest

from podkeeper.core.backoff import Backoff


def crash_loop(run_for: float, crashes: int) -> list[float]:
    """A container that runs `run_for` s then dies, restarted as soon as back-off allows.

    Returns each restart's delay after the previous finishedAt (doBackOff's `ts`)."""
    b = Backoff()
    now = 0.0
    delays = []
    for _ in range(crashes):
        finished = now + run_for
        now = finished
        while b.is_in_backoff_since("k", finished, now):
            now += 0.5  # the pod worker retries; 0.5 s resolution is plenty here
        delays.append(now - finished)
        b.next("k", finished, now)
    return delays


def test_curve_from_finished_at_is_0_10_20_40_80_160_300_300() -> None:
    assert crash_loop(0.0, 9) == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_curve_counts_from_finished_at_not_from_the_restart() -> None:
    # Running 5 s before each crash does not shorten the wait after the crash.
    assert crash_loop(5.0, 5) == [0, 10, 20, 40, 80]


@pytest.mark.parametrize(
    ("ran_for", "expired"),
    [(599.0, False), (600.0, False), (600.5, True), (900.0, True)],
)
def test_entry_expires_after_ten_minutes_since_last_update(ran_for: float, expired: bool) -> None:
    # HasExpiredFunc: eventTime - lastUpdate > 600 s resets the curve to 10 s.
    b = Backoff()
    b.next("k", 0.0, 0.0)  # 10 s
    b.next("k", 0.0, 10.0)  # 20 s, lastUpdate 10
    finished = 10.0 + ran_for
    assert b.is_in_backoff_since("k", finished, finished) is (not expired)
    b.next("k", finished, finished)
    assert b.current("k") == (10.0 if expired else 40.0)


def test_keys_are_independent_and_forget_resets() -> None:
    b = Backoff()
    b.next("a", 0.0, 0.0)
    assert b.current("a") == 10.0 and b.current("b") == 0.0
    assert not b.is_in_backoff_since("b", 0.0, 1.0)
    b.forget("a")
    assert b.current("a") == 0.0
