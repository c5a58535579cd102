"""CronJob schedules (core/cron.py): robfig/cron's standard parser and the controller's
missed-start arithmetic, table-driven, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from podkeeper.core.cron import (
    MAX_MISSED,
    ScheduleError,
    missed_schedules,
    next_after,
    parse,
    within_deadline,
)

T0 = datetime(2026, 12, 4, 17, 52, 30, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("* * * * *", datetime(2026, 12, 4, 17, 53, tzinfo=UTC)),
        ("*/15 * * * *", datetime(2026, 12, 4, 18, 0, tzinfo=UTC)),
        ("0 9 * * 1-5", datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),  # next weekday: Monday
        ("30 2 1 * *", datetime(2027, 1, 1, 2, 30, tzinfo=UTC)),
        ("@hourly", datetime(2026, 12, 4, 18, 0, tzinfo=UTC)),
        ("@weekly", datetime(2026, 12, 6, 0, 0, tzinfo=UTC)),  # Sunday midnight
        ("0 0 29 feb *", datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
        ("0 12 * DEC SUN", datetime(2026, 12, 6, 12, 0, tzinfo=UTC)),
        ("0 0 * * 7", datetime(2026, 12, 6, 0, 0, tzinfo=UTC)),  # 7 is Sunday too
        # day of month OR day of week when both are restricted (the 13th, or a Friday)
        ("0 0 13 * 5", datetime(2026, 12, 11, 0, 0, tzinfo=UTC)),
        ("5,10-12/2 * * * *", datetime(2026, 12, 4, 18, 5, tzinfo=UTC)),
    ],
)
def test_next_after(spec: str, expected: datetime) -> None:
    assert next_after(parse(spec), T0) == expected


def test_time_zone_comes_from_the_caller() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    t = T0.astimezone(berlin)  # 18:52 in Berlin
    got = next_after(parse("0 19 * * *"), t)
    assert got == datetime(2026, 12, 4, 19, 0, tzinfo=berlin)
    assert got is not None and got.astimezone(UTC).hour == 18


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("* * * *", "expected exactly 5 fields"),
        ("61 * * * *", "above maximum"),
        ("5-1 * * * *", "beyond end of range"),
        ("*/0 * * * *", "failed to parse int"),
        ("TZ=UTC * * * * *", "spec.timeZone"),
        ("@every 5m", "unrecognized descriptor"),
    ],
)
def test_invalid_schedules(spec: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse(spec)


def test_never_matching_schedule_has_no_next_time() -> None:
    assert next_after(parse("0 0 30 2 *"), T0) is None


def test_missed_starts_and_the_deadline() -> None:
    every_minute = parse("* * * * *")
    last = datetime(2026, 12, 4, 17, 40, tzinfo=UTC)
    m = missed_schedules(every_minute, last, T0)
    assert (m.latest, m.count, m.too_many) == (datetime(2026, 12, 4, 17, 52, tzinfo=UTC), 12, False)
    # startingDeadlineSeconds: only what is younger is owed
    m = missed_schedules(every_minute, last, T0, starting_deadline_seconds=150)
    assert m.count == 2  # 17:51 and 17:52: strictly after now - 150 s
    m = missed_schedules(every_minute, T0 - timedelta(hours=3), T0)
    assert m.too_many and m.count == MAX_MISSED + 1
    assert within_deadline(T0 - timedelta(seconds=30), T0, 60)
    assert not within_deadline(T0 - timedelta(seconds=90), T0, 60)
    assert within_deadline(T0 - timedelta(days=9), T0, None)
