"""Go's `time.Duration.String()`, because kubelet messages print durations that way."""

from __future__ import annotations


def go_duration(seconds: float) -> str:
    """Format like Go: `0s`, `500ms`, `1s`, `1.5s`, `1m20s`, `5m0s`, `1h0m0s`."""
    if seconds == 0:
        return "0s"
    neg = seconds < 0
    total_ns = round(abs(seconds) * 1e9)
    sign = "-" if neg else ""
    if total_ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if total_ns >= size:
                return sign + _trim(total_ns / size) + unit
    hours, rem = divmod(total_ns, 3_600_000_000_000)
    minutes, rem = divmod(rem, 60_000_000_000)
    secs = _trim(rem / 1e9)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"
