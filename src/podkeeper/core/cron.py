"""CronJob schedules and the CronJob controller's timing decisions, pure.

The schedule syntax is robfig/cron v3's standard parser, which the CronJob
controller uses (`pkg/controller/cronjob/utils.go`, `cron.ParseStandard`): five
fields (minute, hour, day of month, month, day of week) with `*`, `?`, lists,
ranges, steps and month/day names, or a descriptor (`@yearly`, `@annually`,
`@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`). As in cron, when both the
day of month and the day of week are restricted a day matching either runs; a `*`
(or `?`) in one of them leaves the other in charge. `TZ=`/`CRON_TZ=` prefixes are
refused: Kubernetes wants `spec.timeZone` instead (validation of CronJobSpec).

Times are timezone-aware datetimes; the caller supplies the zone (the runtime turns
`spec.timeZone` into a `zoneinfo.ZoneInfo`), so this module reads no files.

`missed_schedules` is the controller's `mostRecentScheduleTime`: the latest schedule
time not yet run, how many were missed, and the controller's refusal after more
than 100 (`too many missed start times`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (low, high, names) per field: minute, hour, day of month, month, day of week.
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
#: The controller gives up on a CronJob that missed more than this many starts.
MAX_MISSED = 100
#: How far ahead `next_after` searches (a schedule such as Feb 30 never matches).
_SEARCH_YEARS = 5


class ScheduleError(ValueError):
    """An invalid schedule, with robfig/cron's kind of message."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # day of month was * or ?
    any_weekday: bool  # day of week was * or ?

    def matches_day(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def matches(self, t: datetime) -> bool:
        return (
            t.minute in self.minutes
            and t.hour in self.hours
            and t.month in self.months
            and self.matches_day(t)
        )


def parse(spec: str) -> Schedule:
    """Parse a CronJob `spec.schedule`; raises ScheduleError."""
    text = spec.strip()
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        raise ScheduleError("CRON_TZ or TZ used in schedule is not supported; use spec.timeZone")
    text = _DESCRIPTORS.get(text.lower(), text)
    if text.startswith("@"):
        raise ScheduleError(f"unrecognized descriptor: {text}")
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: {spec}")
    sets = [_field(f, *_FIELDS[i]) for i, f in enumerate(fields)]
    # Day of week 7 is Sunday too.
    weekdays = frozenset(d % 7 for d in sets[4])
    return Schedule(
        frozenset(sets[0]),
        frozenset(sets[1]),
        frozenset(sets[2]),
        frozenset(sets[3]),
        weekdays,
        fields[2] in ("*", "?"),
        fields[4] in ("*", "?"),
    )


def _value(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ScheduleError(f"failed to parse int from {text}")
    return int(text)


def _field(text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    out: set[int] = set()
    # Day of week allows 7 (Sunday) as robfig/cron does.
    top = 7 if names is _DAYS else high
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"failed to parse int from {step_text}")
            step = int(step_text)
        if rng in ("*", "?"):
            start, end = low, high
        elif "-" in rng:
            a, _, b = rng.partition("-")
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(rng, names)
            end = high if step_text else start
        if start < low or end > top:
            raise ScheduleError(f"end of range ({end}) above maximum ({top}): {part}")
        if start > end:
            raise ScheduleError(f"beginning of range ({start}) beyond end of range ({end}): {part}")
        out.update(range(start, end + 1, step))
    return out


def next_after(schedule: Schedule, t: datetime) -> datetime | None:
    """The first schedule time strictly after `t` (same zone), None if none within years."""
    cur = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = t + timedelta(days=366 * _SEARCH_YEARS)
    while cur <= limit:
        if cur.month not in schedule.months:
            year, month = (cur.year + 1, 1) if cur.month == 12 else (cur.year, cur.month + 1)
            cur = cur.replace(year=year, month=month, day=1, hour=0, minute=0)
            continue
        if not schedule.matches_day(cur):
            cur = (cur + timedelta(days=1)).replace(hour=0, minute=0)
            continue
        if cur.hour not in schedule.hours:
            cur = (cur + timedelta(hours=1)).replace(minute=0)
            continue
        if cur.minute not in schedule.minutes:
            cur += timedelta(minutes=1)
            continue
        return cur
    return None


@dataclass(frozen=True)
class Missed:
    """`mostRecentScheduleTime`: the latest start not yet made, and how many were missed."""

    latest: datetime | None
    count: int
    too_many: bool


def missed_schedules(
    schedule: Schedule,
    earliest: datetime,
    now: datetime,
    starting_deadline_seconds: int | None = None,
) -> Missed:
    """Schedule times in (`earliest`, `now`] not yet run.

    `earliest` is the last schedule time the controller ran (or the CronJob's
    creation); with `startingDeadlineSeconds` nothing older than that is owed
    (`mostRecentScheduleTime` moves `earliest` up to `now - deadline`)."""
    if starting_deadline_seconds is not None:
        earliest = max(earliest, now - timedelta(seconds=starting_deadline_seconds))
    latest: datetime | None = None
    count = 0
    t = next_after(schedule, earliest)
    while t is not None and t <= now:
        latest, count = t, count + 1
        if count > MAX_MISSED:
            return Missed(latest, count, True)
        t = next_after(schedule, t)
    return Missed(latest, count, False)


def within_deadline(
    scheduled: datetime, now: datetime, starting_deadline_seconds: int | None
) -> bool:
    """Whether a missed start may still be made (`startingDeadlineSeconds`)."""
    if starting_deadline_seconds is None:
        return True
    return now - scheduled <= timedelta(seconds=starting_deadline_seconds)
