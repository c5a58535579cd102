"""The CRI container log format, and a pump that turns it into podkeeper's plain logs.

A CRI runtime writes each container's output as lines of
`<RFC 3339 nano time> <stdout|stderr> <F|P> <content>`
(`staging/src/k8s.io/cri-api` "Container log"; kubelet
`pkg/kubelet/kuberuntime/logs/logs.go` `parseCRILog`): `P` marks a partial
line (the runtime split a long line), `F` the full line's end. The kubelet
joins partials when it reads.

podkeeper's `logs`, `logs -p`, `logs -f` and FallbackToLogsOnError read the
per-instance plain file (`runtime/logs.py`); the runtime writes its CRI file
next to it (`<n>.cri.log`) and `LogPump` appends the decoded content of every
record to `<n>.log` as it arrives, so every reader works unchanged on both runtimes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

PUMP_INTERVAL = 0.2  # seconds between reads of a running container's CRI log
CONTAINER_LOG_MAX_SIZE = 10 * 1024 * 1024  # the kubelet's containerLogMaxSize default (10Mi)
log = logging.getLogger("podkeeper.cri")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class CriLogLine:
    timestamp: str
    stream: str  # "stdout" or "stderr"
    partial: bool
    content: bytes


def parse_cri_line(line: bytes) -> CriLogLine | None:
    """One record without its newline; None when it is not in the CRI format."""
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        return None
    content = parts[3] if len(parts) == 4 else b""
    return CriLogLine(parts[0].decode(), parts[1].decode(), parts[2] == b"P", content)


def decode_cri_log(data: bytes) -> tuple[bytes, int]:
    """Decode the complete records of `data`: (plain bytes, bytes consumed).

    Partial records are joined with what follows, full ones end with a newline;
    a trailing record without its newline is left for the next read."""
    out = bytearray()
    consumed = 0
    while True:
        nl = data.find(b"\n", consumed)
        if nl < 0:
            break
        rec = parse_cri_line(data[consumed:nl])
        consumed = nl + 1
        if rec is None:
            continue
        out += rec.content
        if not rec.partial:
            out += b"\n"
    return bytes(out), consumed


def read_cri_log(path: str) -> bytes:
    """The whole CRI log at `path` as plain text (what `kubectl logs` prints)."""
    with open(path, "rb") as f:
        data = f.read()
    text, _used = decode_cri_log(data if data.endswith(b"\n") else data + b"\n")
    return text


class LogPump:
    """Copies the decoded content of one CRI log file to a plain log file, as it grows.

    With `reopen` (CRI ReopenContainerLog for the container) the CRI file is rotated once
    `max_size` bytes of it are copied, as the kubelet's container log manager rotates at
    containerLogMaxSize (`pkg/kubelet/logs/container_log_manager.go`): renamed, the runtime
    told to reopen, the rest of the old file copied, the old file removed. Everything is
    already in the plain log, so no rotated CRI file is kept."""

    def __init__(
        self,
        cri_path: str,
        plain_path: str,
        reopen: Callable[[], Awaitable[object]] | None = None,
        max_size: int = CONTAINER_LOG_MAX_SIZE,
    ) -> None:
        self.cri_path = cri_path
        self.plain_path = plain_path
        self._reopen = reopen
        self.max_size = max_size
        self._offset = 0
        self._task: asyncio.Task[None] | None = None
        self.rotations = 0

    def resume(self) -> None:
        """Continue after what the plain log already holds (an adopted container): skip the
        CRI records whose content makes up the plain file's length; past a rotation (the
        CRI file holds less than that) continue at its end."""
        try:
            have = os.path.getsize(self.plain_path)
            with open(self.cri_path, "rb") as f:
                data = f.read()
        except OSError:
            return
        done = consumed = 0
        while done < have:
            nl = data.find(b"\n", consumed)
            if nl < 0:
                break
            rec = parse_cri_line(data[consumed:nl])
            consumed = nl + 1
            if rec is not None:
                done += len(rec.content) + (0 if rec.partial else 1)
        self._offset = consumed

    def start(self) -> None:
        os.makedirs(os.path.dirname(self.plain_path), exist_ok=True)
        with open(self.plain_path, "ab"):
            pass
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._drain()
            if self._reopen is not None and self._offset >= self.max_size:
                await self._rotate()
            await asyncio.sleep(PUMP_INTERVAL)

    def _drain(self, chunks: int = 64) -> None:
        for _ in range(chunks):  # a big backlog is read in 1 MiB chunks
            before = self._offset
            self.pump()
            if self._offset == before:
                break

    async def _rotate(self) -> None:
        assert self._reopen is not None
        current = self.cri_path
        old = current + ".1"
        try:
            os.replace(current, old)
        except OSError:
            return
        try:
            await self._reopen()
        except asyncio.CancelledError:
            # `close` (the container ended): nothing more is written; the old file has it all.
            self._switch_after_rotation(old, current)
            raise
        except Exception as err:
            log.warning("ReopenContainerLog for %s failed: %s", current, err)
            os.replace(old, current)  # the runtime still writes the old file: keep reading it
            return
        self._switch_after_rotation(old, current)

    def _switch_after_rotation(self, old: str, current: str) -> None:
        """Copy the rest of the rotated file, then follow the new one from its start."""
        self.cri_path = old
        self._drain()
        self.cri_path = current
        self._offset = 0
        self.rotations += 1
        with contextlib.suppress(OSError):
            os.unlink(old)

    def pump(self) -> None:
        """Copy whatever complete records arrived since the last call."""
        try:
            with open(self.cri_path, "rb") as f:
                f.seek(self._offset)
                data = f.read(_CHUNK)
        except OSError:
            return
        if not data:
            return
        text, used = decode_cri_log(data)
        self._offset += used
        if text:
            with open(self.plain_path, "ab") as out:
                out.write(text)

    async def close(self) -> None:
        """Stop following and copy the rest (the container has exited)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._drain()
