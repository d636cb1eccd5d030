"""The remote-command channel protocol of `pods/exec` over WebSocket, as pure functions.

Rules of this module: no I/O, no clock. It knows the two subprotocols gotty-py speaks,
`v5.channel.k8s.io` (preferred: it can say "stdin is finished") and `v4.channel.k8s.io`
(the status channel is a JSON `v1.Status`), and nothing older: v1-v3 report the exit as
plain text and cannot be told from an error reliably. One WebSocket message is one channel
byte followed by that channel's data. Errors are `ChannelError`s whose text may be shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from .. import boundedjson

# The largest stdin payload put in one message; the API server accepts more, but smaller
# messages keep one paste from holding the connection's write buffer for long.
STDIN_PIECE = 32 * 1024
# A status message is one small JSON object; anything much larger is not one.
STATUS_LIMIT = 64 * 1024


class Subprotocol(StrEnum):
    """What the client offers, in order of preference (`Sec-WebSocket-Protocol`)."""

    V5 = "v5.channel.k8s.io"
    V4 = "v4.channel.k8s.io"


OFFERED: tuple[Subprotocol, ...] = (Subprotocol.V5, Subprotocol.V4)


class Channel(IntEnum):
    STDIN = 0
    STDOUT = 1
    STDERR = 2
    STATUS = 3  # "error" in client-go: one v1.Status when the command is over
    RESIZE = 4
    CLOSE = 255  # v5 only: [255, channel] closes that channel (stdin: the command's EOF)


class ChannelError(ValueError):
    """A message the protocol does not allow (from the server, or a use that is not)."""


def negotiated(selected: str | None) -> Subprotocol:
    """The subprotocol the server chose; anything else (or none) cannot be spoken."""
    for protocol in OFFERED:
        if selected == protocol.value:
            return protocol
    raise ChannelError(f"the API server chose no supported exec subprotocol "
                       f"(offered {', '.join(OFFERED)}, got {selected or 'none'})")


@dataclass(frozen=True)
class Frame:
    """One message from the API server: its channel and data."""

    channel: Channel
    data: bytes


def decode(message: bytes) -> Frame:
    """A server message: channel byte, then data. The server sends only 1, 2 and 3."""
    if not message:
        raise ChannelError("empty exec message (no channel byte)")
    try:
        channel = Channel(message[0])
    except ValueError:
        raise ChannelError(f"exec message on unknown channel {message[0]}") from None
    if channel not in (Channel.STDOUT, Channel.STDERR, Channel.STATUS):
        raise ChannelError(f"exec message on channel {channel.value} from the server")
    return Frame(channel, bytes(message[1:]))


def encode_stdin(data: bytes) -> list[bytes]:
    """Input for the command as messages of at most `STDIN_PIECE` bytes of data each."""
    return [bytes([Channel.STDIN]) + data[i:i + STDIN_PIECE]
            for i in range(0, len(data), STDIN_PIECE)]


def encode_resize(columns: int, rows: int) -> bytes:
    """The terminal's new size: `{"Width":W,"Height":H}` on channel 4 (16-bit each)."""
    if not (0 < columns <= 0xFFFF and 0 < rows <= 0xFFFF):
        raise ChannelError(f"terminal size {columns}x{rows} out of range")
    body = json.dumps({"Width": columns, "Height": rows}, separators=(",", ":"))
    return bytes([Channel.RESIZE]) + body.encode()


def encode_close(protocol: Subprotocol, channel: Channel = Channel.STDIN) -> bytes | None:
    """v5's CLOSE of a channel (`[255, ch]`); None on v4, which has no way to say it."""
    if protocol is not Subprotocol.V5:
        return None
    return bytes([Channel.CLOSE, channel])


@dataclass(frozen=True)
class ExitStatus:
    """The command ended; `code` is its exit status (128+N for a signal N, as runtimes
    report it)."""

    code: int


@dataclass(frozen=True)
class ExecError:
    """The exec failed without an exit status (it could not start, the container went)."""

    message: str
    reason: str = ""


def parse_status(data: bytes) -> ExitStatus | ExecError:
    """The `v1.Status` of channel 3 (v4/v5): Success is 0, `NonZeroExitCode` carries the
    code in `details.causes[reason=ExitCode].message`; every other Failure is an error."""
    if len(data) > STATUS_LIMIT:
        return ExecError(f"exec status of {len(data)} bytes is not a Status")
    try:
        status = boundedjson.loads(data)
    except boundedjson.JsonRejected as exc:
        return ExecError(f"exec status is not JSON: {exc}")
    if not isinstance(status, dict):
        return ExecError("exec status is not a JSON object")
    if status.get("status") == "Success":
        return ExitStatus(0)
    reason = _text(status.get("reason"))
    message = _text(status.get("message")) or "exec failed"
    if reason == "NonZeroExitCode":
        code = _exit_code(status.get("details"))
        if code is not None:
            return ExitStatus(code)
    return ExecError(message, reason)


def _exit_code(details: Any) -> int | None:
    if not isinstance(details, dict) or not isinstance(details.get("causes"), list):
        return None
    for cause in details["causes"]:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            text = _text(cause.get("message"))
            if text.isascii() and text.isdigit() and len(text) <= 10:
                return int(text)
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
