"""Per-instance log files (runtime/logs.py), as /var/log/pods lays them out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podkeeper.runtime.logs import (
    FALLBACK_LOG_BYTES,
    container_log_path,
    fallback_message,
    instance_logs,
    open_log,
    read_tail_bytes,
    tail_lines,
)


def test_paths_and_listing(tmp_path: Path) -> None:
    home = str(tmp_path)
    p0 = container_log_path(home, "ns", "web", "u1", "app", 0)
    assert p0 == f"{home}/pods/ns_web_u1/app/0.log"
    for n in (0, 1, 10, 2):
        fd = open_log(container_log_path(home, "ns", "web", "u1", "app", n))
        os.close(fd)
    (tmp_path / "pods/ns_web_u1/app/notes.txt").write_text("x")
    assert [n for n, _ in instance_logs(home, "ns", "web", "u1", "app")] == [0, 1, 2, 10]
    assert instance_logs(home, "ns", "web", "u1", "other") == []


def test_open_log_appends(tmp_path: Path) -> None:
    path = str(tmp_path / "a" / "0.log")
    for chunk in (b"one\n", b"two\n"):
        fd = open_log(path)
        os.write(fd, chunk)
        os.close(fd)
    assert Path(path).read_bytes() == b"one\ntwo\n"


@pytest.mark.parametrize(
    ("content", "n", "expected"),
    [
        (b"", 3, []),
        (b"a\nb\nc\n", 2, [b"b\n", b"c\n"]),
        (b"a\nb\nc", 2, [b"b\n", b"c"]),
        (b"a\nb\n", 5, [b"a\n", b"b\n"]),
        (b"a\n", 0, []),
        (b"\n\n\n", 2, [b"\n", b"\n"]),
    ],
)
def test_tail_lines(tmp_path: Path, content: bytes, n: int, expected: list[bytes]) -> None:
    p = tmp_path / "f.log"
    p.write_bytes(content)
    assert tail_lines(str(p), n) == expected


def test_tail_lines_large_and_missing(tmp_path: Path) -> None:
    p = tmp_path / "big.log"
    p.write_bytes(b"".join(b"line %d\n" % i for i in range(100_000)))
    assert tail_lines(str(p), 3) == [b"line 99997\n", b"line 99998\n", b"line 99999\n"]
    assert tail_lines(str(tmp_path / "missing"), 3) == []


def test_fallback_message_80_lines_2048_bytes(tmp_path: Path) -> None:
    p = tmp_path / "f.log"
    p.write_bytes(b"".join(b"%d\n" % i for i in range(200)))
    msg = fallback_message(str(p))
    assert msg.splitlines() == [str(i) for i in range(120, 200)]
    p.write_bytes(b"".join(b"%04d" % i + b"x" * 95 + b"\n" for i in range(100)))
    msg = fallback_message(str(p))
    assert len(msg.encode()) == FALLBACK_LOG_BYTES and msg.endswith("x\n")
    assert fallback_message(str(tmp_path / "missing")) == ""


def test_read_tail_bytes(tmp_path: Path) -> None:
    p = tmp_path / "m"
    p.write_bytes(b"0123456789")
    assert read_tail_bytes(str(p), 4) == b"6789"
    assert read_tail_bytes(str(p), 100) == b"0123456789"


def test_long_names_fit_one_path_component_and_short_ones_keep_the_layout(
    tmp_path: Path,
) -> None:
    """Issue 13 item 14: a 253-character pod name gave "File name too long"."""
    import stat

    from podkeeper.runtime.logs import NAME_MAX, fit_component, pod_log_dir

    home = str(tmp_path)
    uid = "30746975-56aa-43bf-bb07-4f46788dd78d"
    assert pod_log_dir(home, "ns", "web", uid) == f"{home}/pods/ns_web_{uid}"
    long_ns, long_pod = "n" * 63, ".".join(["a" * 61, "b" * 63, "c" * 63, "d" * 63])
    d = pod_log_dir(home, long_ns, long_pod, uid)
    component = os.path.basename(d)
    assert len(component.encode()) <= NAME_MAX
    assert component.startswith(f"{long_ns}_aaaa") and component.endswith(f"_{uid}")
    # Two long names that share the kept head still get different folders.
    other = pod_log_dir(home, long_ns, long_pod[:-1] + "e", uid)
    assert other != d
    assert fit_component("x" * 255) == "x" * 255
    assert len(fit_component("x" * 256).encode()) == NAME_MAX
    path = container_log_path(home, long_ns, long_pod, uid, "c" * 63, 0)
    os.close(open_log(path))
    assert os.path.exists(path)
    # Owner-only, folders and file (issue 13 item 5).
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(home, "pods")).st_mode) == 0o700
