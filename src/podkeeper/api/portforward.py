"""`kubectl port-forward` over WebSocket: SPDY/3.1 streams tunnelled in WebSocket messages.

kubectl 1.31+ opens `GET .../pods/{name}/portforward` as a WebSocket with the
subprotocol `SPDY/3.1+portforward.k8s.io` (client-go `portforward/tunneling_connection.go`)
and speaks SPDY/3 over it, as it would over a raw SPDY upgrade. Per local
connection it opens two streams with headers `streamtype` (`error` or
`data`), `port` and `requestid` (kubelet `cri/streaming/portforward/httpstream.go`);
the server dials the pod's IP and port and copies bytes both ways, writing a
dial failure to the error stream. The SPDY part is the minimum that
`moby/spdystream` (the client) needs: SYN_STREAM / SYN_REPLY with zlib header
blocks (the SPDY/3 dictionary, draft 3 section 2.6.10.1), DATA with FIN,
RST_STREAM, PING and GOAWAY; spdystream does no flow control, neither does this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import zlib
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

SUBPROTOCOL = "SPDY/3.1+portforward.k8s.io"
_VERSION = 3
_SYN_STREAM, _SYN_REPLY, _RST_STREAM, _SETTINGS, _PING, _GOAWAY, _HEADERS, _WINDOW = (
    1,
    2,
    3,
    4,
    6,
    7,
    8,
    9,
)
_FIN = 0x01
_CANCEL = 5
_CHUNK = 32 * 1024

# The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): length-prefixed
# header names and values, then a run of status codes and common values.
_WORDS = (
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
)
_TAIL = (
    "1001012012022052063003023033043053063074024054064074084094104114124134144154164175025045"
    "05203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401"
    " Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
    "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
    "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/"
    "xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,s"
    "dchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(len(w).to_bytes(4, "big") + w.encode() for w in _WORDS) + _TAIL.encode()


def _header_block(headers: dict[str, str]) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def _parse_headers(block: bytes) -> dict[str, str]:
    (count,), pos, out = struct.unpack_from(">I", block), 4, {}
    for _ in range(count):
        (n,) = struct.unpack_from(">I", block, pos)
        name = block[pos + 4 : pos + 4 + n].decode()
        pos += 4 + n
        (v,) = struct.unpack_from(">I", block, pos)
        out[name.lower()] = block[pos + 4 : pos + 4 + v].decode()
        pos += 4 + v
    return out


@dataclass
class _Stream:
    id: int
    headers: dict[str, str]
    inbox: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    closed_remote: bool = False


class SpdyServer:
    """The server side of one SPDY connection carried in a WebSocket."""

    def __init__(self, ws: web.WebSocketResponse, host: str) -> None:
        self.ws = ws
        self.host = host
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)
        self._streams: dict[int, _Stream] = {}
        self._pending: dict[str, dict[str, _Stream]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()

    # -- frames out ------------------------------------------------------

    async def _send(self, frame: bytes) -> None:
        async with self._send_lock:
            if not self.ws.closed:
                await self.ws.send_bytes(frame)

    def _control(self, kind: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | _VERSION, kind, (flags << 24) | len(payload)) + payload

    async def _reply(self, stream_id: int) -> None:
        block = self._deflate.compress(_header_block({})) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        await self._send(self._control(_SYN_REPLY, 0, struct.pack(">I", stream_id) + block))

    async def send_data(self, stream_id: int, data: bytes, fin: bool = False) -> None:
        header = struct.pack(
            ">II", stream_id & 0x7FFFFFFF, ((_FIN if fin else 0) << 24) | len(data)
        )
        await self._send(header + data)

    async def _reset(self, stream_id: int) -> None:
        await self._send(self._control(_RST_STREAM, 0, struct.pack(">II", stream_id, _CANCEL)))

    # -- frames in -------------------------------------------------------

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                self._buf += msg.data
                while await self._one_frame():
                    pass
        finally:
            for s in self._streams.values():
                s.inbox.put_nowait(None)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _one_frame(self) -> bool:
        if len(self._buf) < 8:
            return False
        first, second = struct.unpack_from(">II", self._buf)
        length = second & 0xFFFFFF
        if len(self._buf) < 8 + length:
            return False
        flags = second >> 24
        payload = bytes(self._buf[8 : 8 + length])
        del self._buf[: 8 + length]
        if first & 0x80000000:
            await self._on_control(first & 0xFFFF, flags, payload)
        else:
            stream = self._streams.get(first & 0x7FFFFFFF)
            if stream is not None:
                if payload:
                    stream.inbox.put_nowait(payload)
                if flags & _FIN:
                    stream.closed_remote = True
                    stream.inbox.put_nowait(None)
        return True

    async def _on_control(self, kind: int, flags: int, payload: bytes) -> None:
        if kind == _SYN_STREAM:
            (stream_id,) = struct.unpack_from(">I", payload)
            stream_id &= 0x7FFFFFFF
            headers = _parse_headers(self._inflate.decompress(payload[10:]))
            stream = _Stream(stream_id, headers)
            self._streams[stream_id] = stream
            await self._reply(stream_id)
            if flags & _FIN:
                stream.closed_remote = True
                stream.inbox.put_nowait(None)
            self._pair(stream)
        elif kind == _PING:
            await self._send(self._control(_PING, 0, payload))
        elif kind == _RST_STREAM:
            (stream_id,) = struct.unpack_from(">I", payload)
            reset = self._streams.pop(stream_id & 0x7FFFFFFF, None)
            if reset is not None:
                reset.inbox.put_nowait(None)
        elif kind == _GOAWAY:
            await self.ws.close()
        elif kind == _HEADERS:
            self._inflate.decompress(payload[4:])  # keep the shared zlib stream in step

    def _pair(self, stream: _Stream) -> None:
        request = stream.headers.get("requestid", "")
        kinds = self._pending.setdefault(request, {})
        kinds[stream.headers.get("streamtype", "")] = stream
        if "error" in kinds and "data" in kinds:
            del self._pending[request]
            task = asyncio.ensure_future(self._forward(kinds["data"], kinds["error"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _forward(self, data: _Stream, error: _Stream) -> None:
        port = data.headers.get("port", "")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, int(port)), 10
            )
        except (OSError, ValueError, TimeoutError) as exc:
            # kubelet wording: `error forwarding port 80 to pod ..., uid ...: <reason>`.
            message = f"error forwarding port {port} to pod: {exc}"
            await self.send_data(error.id, message.encode(), fin=True)
            await self._reset(data.id)
            return
        await self.send_data(error.id, b"", fin=True)

        async def upstream() -> None:
            while True:
                chunk = await data.inbox.get()
                if chunk is None:
                    break
                writer.write(chunk)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        up = asyncio.ensure_future(upstream())
        try:
            while True:
                chunk = await reader.read(_CHUNK)
                if not chunk:
                    break
                await self.send_data(data.id, chunk)
            await self.send_data(data.id, b"", fin=True)
            await asyncio.wait_for(up, 30)
        except (OSError, TimeoutError, ConnectionError):
            pass
        finally:
            up.cancel()
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
            self._streams.pop(data.id, None)
            self._streams.pop(error.id, None)
