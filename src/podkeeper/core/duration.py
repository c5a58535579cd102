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
