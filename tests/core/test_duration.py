"""Go's `time.Duration.String()` as kubelet messages print it (back-off messages)."""

from __future__ import annotations

import pytest

from podkeeper.core.duration import go_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (0.0015, "1.5ms"),
        (0.000002, "2µs"),
        (1, "1s"),
        (1.5, "1.5s"),
        (10, "10s"),
        (59, "59s"),
        (60, "1m0s"),
        (80, "1m20s"),
        (160, "2m40s"),
        (300, "5m0s"),
        (3600, "1h0m0s"),
        (3725, "1h2m5s"),
        (-10, "-10s"),
    ],
)
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text
