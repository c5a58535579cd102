"""Text helpers shared by the command modules: Go's tabwriter, kubectl's durations, RFC 3339 times.

Stdlib only: imported at CLI start-up, so it must stay cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from podkeeper.core.duration import human_duration

#: kubectl's table writer (`cli-runtime/pkg/printers/tabwriter.go`): minwidth 6, padding 3.
TABLE_MINWIDTH = 6
TABLE_PADDING = 3
#: kubectl describe's writer (`describe.go` `tabbedString`): minwidth 0, padding 2.
DESCRIBE_PADDING = 2


def tabwrite(lines: Sequence[str], minwidth: int = 0, padding: int = DESCRIBE_PADDING) -> str:
    """Align tab-separated cells exactly as Go's `text/tabwriter` does (flags 0, pad ' ').

    A column is a run of consecutive lines that have a tab-terminated cell at that
    index; a line's last cell is never part of a column. Returns the text with a
    trailing newline per line.
    """
    rows = [line.split("\t") for line in lines]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(start: int, end: int) -> None:
        for row in rows[start:end]:
            parts: list[str] = []
            for j, cell in enumerate(row):
                if j < len(widths) and j < len(row) - 1:
                    parts.append(cell + " " * (widths[j] - len(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(rows[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(rows[this]) - 1:
                width = max(width, len(rows[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(rows))
    return "".join(line + "\n" for line in out)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A kubectl `get`-style table: upper-case header, columns padded by 3."""
    lines = ["\t".join(header)] + ["\t".join(r) for r in rows]
    return tabwrite(lines, TABLE_MINWIDTH, TABLE_PADDING)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (`2024-05-01T10:00:00Z`, fractions allowed) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def since(value: Any, now: datetime) -> str:
    """kubectl's `translateTimestampSince`: `<unknown>` for a missing time, else a human age."""
    when = parse_time(value)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def rfc1123z(value: Any) -> str:
    """Go's `time.RFC1123Z` in local time, as kubectl describe prints times."""
    when = parse_time(value)
    if when is None:
        return "<unknown>"
    return when.astimezone().strftime("%a, %d %b %Y %H:%M:%S %z")


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def get(obj: Any, *path: str) -> Any:
    """`obj[p0][p1]...`, or None when any step is missing or not a dict."""
    cur = obj
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a list (an absent or malformed list is empty)."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)]
