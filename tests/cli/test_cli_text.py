"""kubectl's text primitives: HumanDuration, Go's tabwriter, RFC 3339 parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from podkeeper.cli._text import human_duration, parse_time, since, table, tabwrite


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60 + 59, "179m"),
        (3 * 3600 + 2 * 60, "3h2m"),
        (5 * 3600, "5h"),
        (8 * 3600 + 59 * 60, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (2 * 86400 + 5 * 3600, "2d5h"),
        (8 * 86400, "8d"),
        (400 * 86400, "400d"),
        (2 * 365 * 86400, "2y"),
        (3 * 365 * 86400 + 10 * 86400, "3y10d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_kubectl(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_parse_time_accepts_z_and_fractions() -> None:
    assert parse_time("2024-05-01T12:00:00Z") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_time("2024-05-01T12:00:00.250000Z") == datetime(
        2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC
    )
    assert parse_time("") is None
    assert parse_time(None) is None
    assert parse_time("yesterday") is None


def test_since_unknown_for_missing_time() -> None:
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert since(None, now) == "<unknown>"
    assert since("2024-05-01T11:57:30Z", now) == "2m30s"


def test_table_pads_columns_by_three_like_kubectl_get() -> None:
    text = table(["NAME", "READY", "STATUS"], [["web", "1/1", "Running"]])
    assert text == "NAME   READY   STATUS\nweb    1/1     Running\n"


def test_tabwrite_column_blocks_end_at_lines_without_the_column() -> None:
    # Go's tabwriter aligns each run of lines that share a column, separately.
    lines = ["Name:\tweb", "Namespace:\tdefault", "Containers:", "  app:", "    Image:\tbusybox"]
    assert tabwrite(lines) == (
        "Name:       web\nNamespace:  default\nContainers:\n  app:\n    Image:  busybox\n"
    )
