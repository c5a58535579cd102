"""Go's `time.Duration.String()`, because kubelet messages print durations that way."""

from __future__ import annotations

_NS_PER_S = 1_000_000_000


def _frac(value: int, prec: int) -> tuple[int, str]:
    """Go's `fmtFrac`: split off `prec` decimal digits, dropping trailing zeros."""
    whole, frac = divmod(value, 10**prec)
    if frac == 0:
        return whole, ""
    digits = str(frac).rjust(prec, "0").rstrip("0")
    return whole, "." + digits


def go_duration(seconds: float) -> str:
    """Format `seconds` as Go's `time.Duration.String()` does.

    Examples: 0 → "0s", 0.5 → "500ms", 1 → "1s", 1.5 → "1.5s",
    80 → "1m20s", 300 → "5m0s", 3600 → "1h0m0s". Resolution is 1 ns.
    """
    ns = round(seconds * _NS_PER_S)
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < _NS_PER_S:
        # Sub-second durations use a smaller unit so there is a leading digit.
        if u == 0:
            return "0s"
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            whole, frac = _frac(u, 3)
            return f"{sign}{whole}{frac}µs"
        whole, frac = _frac(u, 6)
        return f"{sign}{whole}{frac}ms"
    whole_s, frac = _frac(u, 9)
    minutes, secs = divmod(whole_s, 60)
    out = f"{secs}{frac}s"
    if minutes:
        hours, mins = divmod(minutes, 60)
        out = f"{mins}m{out}"
        if hours:
            out = f"{hours}h{out}"
    return sign + out


def human_duration(seconds: float) -> str:
    """kubectl's `duration.HumanDuration` (apimachinery `util/duration`), from seconds.

    `5s`, `2m30s`, `10m`, `3h2m`, `2d`: the AGE column and event ages."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        s = secs % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{hours // 24 // 365}y"
