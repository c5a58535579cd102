"""The agent-owned termination-message file (issue 13 item 1): made safely, read safely."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from podkeeper.runtime.message import make_message_file, read_termination_message


def test_reads_the_last_4096_bytes(tmp_path: Path) -> None:
    p = tmp_path / "msg"
    assert read_termination_message("") is None
    assert read_termination_message(str(p)) is None
    p.write_bytes(b"a" * 5000 + b"END")
    msg = read_termination_message(str(p))
    assert msg is not None and len(msg) == 4096 and msg.endswith("END")


def test_never_follows_a_symlink(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("host secret")
    link = tmp_path / "msg"
    link.symlink_to(secret)
    msg = read_termination_message(str(link))
    assert msg is not None and "host secret" not in msg
    assert msg.startswith(f"Error on reading termination log {link}")


def test_a_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "msg"
    os.mkfifo(fifo)
    out: list[str | None] = []
    t = threading.Thread(target=lambda: out.append(read_termination_message(str(fifo))))
    t.start()
    t.join(timeout=10)
    assert not t.is_alive(), "reading a FIFO blocked"
    assert out[0] is not None and "not a regular file" in out[0]


def test_make_replaces_whatever_is_there_without_touching_its_target(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    path = tmp_path / "d" / "0.termination-log"
    path.parent.mkdir()
    path.symlink_to(precious)
    make_message_file(str(path), None, None)
    assert precious.read_text() == "keep me"
    assert path.is_file() and not path.is_symlink() and path.read_bytes() == b""
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("old message")
    make_message_file(str(path), None, None)  # a new instance starts empty
    assert path.read_bytes() == b""
