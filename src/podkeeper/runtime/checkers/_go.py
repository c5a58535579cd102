"""Go formatting helpers, so checker outputs read exactly like the kubelet's.

The kubelet's probe messages are Go error strings: durations print with
`time.Duration.String`, URLs and commands are quoted with `%q`
(`strconv.Quote`), and socket errors use the lowercase `syscall.Errno` texts.
"""

from __future__ import annotations

import errno
import os

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


_QUOTE_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f"}
_QUOTE_ESCAPES.update({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"})


def go_quote(text: str) -> str:
    """Go's `strconv.Quote` (`%q`) for the strings probes print: URLs, commands, addresses."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # the common case, no per-character work
    out = ['"']
    for ch in text:
        esc = _QUOTE_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x10000:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def go_errno(err: OSError) -> str:
    """The text Go's `syscall.Errno.Error()` gives for `err.errno`, e.g. "connection refused".

    Go's errno table is glibc's `strerror` with a lowercase first letter."""
    code = err.errno
    if code is None:
        return str(err)
    if code == errno.ETIMEDOUT:
        return "connection timed out"
    text = os.strerror(code)
    return text[:1].lower() + text[1:]


def join_host_port(host: str, port: int) -> str:
    """Go's `net.JoinHostPort`: IPv6 literals get brackets."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"
