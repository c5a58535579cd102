"""Go formatting helpers, so checker outputs read exactly like the kubelet's.

The kubelet's probe messages are Go error strings: durations print with
`time.Duration.String`, URLs and commands are quoted with `%q`
(`strconv.Quote`), and socket errors use the lowercase `syscall.Errno` texts.
"""

from __future__ import annotations

import errno
import os

from podkeeper.core.duration import go_duration

__all__ = ["go_duration", "go_errno", "go_quote", "join_host_port"]


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
