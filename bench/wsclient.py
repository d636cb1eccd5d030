"""The bench's WebSocket client: a raw socket, one `recv_into` per kernel read, no library.

Rules of this module: the same client speaks to every server the bench compares, so that
the client's own cost is the same on both sides of every ratio. It does the least a
client can: a fixed request for the upgrade, text frames masked with the all-zero key (the
payload goes out unchanged: RFC 6455 requires the mask bit, not a random key, from a client
we control), and frames parsed from one growing buffer with `int.from_bytes`, never byte by
byte. TCP_NODELAY is set, as a browser sets it. Nothing here is shared with the server's
code or with websocket-client.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
from urllib.parse import urlsplit

OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_ZERO_MASK = b"\0\0\0\0"


class Closed(Exception):
    """The server sent a close frame or dropped the connection."""


def text_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One masked client frame (FIN set), the mask key all zeros."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    return header + _ZERO_MASK + payload


class WsClient:
    """One WebSocket connection over a plain TCP socket to 127.0.0.1."""

    def __init__(self, url: str, *, subprotocol: str | None = None,
                 timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {target or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   + (f"Sec-WebSocket-Protocol: {subprotocol}\r\n" if subprotocol else "")
                   + "\r\n")
        self.sock.sendall(request.encode())
        self._buffer = bytearray()
        self._start = 0  # where the unparsed bytes of _buffer begin
        while b"\r\n\r\n" not in self._buffer:
            self._fill()
        end = self._buffer.index(b"\r\n\r\n") + 4
        status = bytes(self._buffer[:end]).split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(f"upgrade refused: {status.decode(errors='replace')}")
        self._start = end
        self.received = 0  # payload bytes of data frames, for throughput
        self.closed = False

    def _fill(self) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise Closed("connection dropped")
        if self._start > 65536 and self._start * 2 > len(self._buffer):
            del self._buffer[:self._start]
            self._start = 0
        self._buffer += chunk

    def send(self, payload: bytes) -> None:
        self.sock.sendall(text_frame(payload))

    def send_many(self, payloads: list[bytes]) -> None:
        """Several frames in one write (one TCP segment), as a page's first two go."""
        self.sock.sendall(b"".join(text_frame(p) for p in payloads))

    def recv(self) -> bytes:
        """The next data frame's payload; pings are answered, a close raises `Closed`."""
        while True:
            buffer = self._buffer
            start = self._start
            available = len(buffer) - start
            if available >= 2:
                opcode = buffer[start] & 0x0F
                size = buffer[start + 1] & 0x7F
                head = 2
                if size == 126:
                    head = 4
                    if available < head:
                        self._fill()
                        continue
                    size = int.from_bytes(buffer[start + 2:start + 4], "big")
                elif size == 127:
                    head = 10
                    if available < head:
                        self._fill()
                        continue
                    size = int.from_bytes(buffer[start + 2:start + 10], "big")
                if available >= head + size:
                    payload = bytes(buffer[start + head:start + head + size])
                    self._start = start + head + size
                    if opcode == OP_CLOSE:
                        self.closed = True
                        raise Closed(payload[2:].decode(errors="replace"))
                    if opcode == OP_PING:
                        self.sock.sendall(text_frame(payload, OP_PONG))
                        continue
                    if opcode == OP_PONG:
                        continue
                    self.received += size
                    return payload
            self._fill()

    def close(self) -> None:
        """A close frame, then the socket (no wait for the server's answer)."""
        if not self.closed:
            with contextlib.suppress(OSError):
                self.sock.sendall(text_frame(b"\x03\xe8", OP_CLOSE))
        self.sock.close()

    def abort(self) -> None:
        self.sock.close()
