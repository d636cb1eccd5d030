"""GoTTY's `webtty` wire protocol as pure functions and small values: no I/O here.

Rules of this module: everything that decides what a frame means or how a message is
spelled on the wire lives here, and nothing else does. It accepts the union of what
yudai's v2 frontend, sorenisanerd's frontend and `gotty-client --v2` send; it never touches
sockets, PTYs or the clock. Errors are `ProtocolError`s whose text is safe to show the
client as a close reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from .. import boundedjson

# Client -> server message types (the first byte of a text frame).
UNKNOWN_INPUT = ord("0")
INPUT = ord("1")
PING = ord("2")
RESIZE_TERMINAL = ord("3")
SET_ENCODING = ord("4")
# gotty-py's page only, to a server that announced sharing (webtty/sharing.py): a JSON
# request of the owner (a join ticket) or a moderator (end the session). Never reaches a
# session: the connection's sharing hub takes it.
SHARING_REQUEST = ord("8")

# Server -> client message types.
OUTPUT = "1"
PONG = "2"
SET_WINDOW_TITLE = "3"
SET_PREFERENCES = "4"
SET_RECONNECT = "5"
SET_BUFFER_SIZE = "6"
# gotty-py extension, sent only to clients whose init announced `GottyPy`: session facts
# the page shows (read-only badge) that GoTTY's message set cannot carry.
SET_SESSION_INFO = "7"

# sorenisanerd's client splits its input by the buffer size the server announces.
ANNOUNCED_BUFFER_SIZE = 1024

MAX_DIMENSION = 0xFFFF  # GoTTY stores sizes as uint16
# A resize message is `{"columns":N,"rows":N}`; anything much longer is not one. Bounding it
# bounds the work of parsing it (input frames may be 64 MiB, resizes need not).
MAX_RESIZE_BYTES = 4096
MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a control frame payload is 125 bytes at most


class CloseCode:
    """WebSocket close codes gotty-py uses when it ends a session (GoTTY sends none)."""

    NORMAL = 1000  # the command exited
    GOING_AWAY = 1001  # server shutdown
    PROTOCOL_ERROR = 1002  # a malformed frame
    POLICY_VIOLATION = 1008  # unauthorized, refused by a limit
    TOO_BIG = 1009
    INTERNAL_ERROR = 1011  # the command could not be started
    TRY_AGAIN_LATER = 1013


class ProtocolError(Exception):
    """The client broke the protocol; the session ends with this text as the reason."""


@dataclass(frozen=True)
class InitMessage:
    """The client's first frame: GoTTY's `{Arguments, AuthToken}` plus our extension flag."""

    arguments: str = ""
    auth_token: str = ""
    gotty_py: bool = False
    # gotty-py's page only (webtty/sharing.py): it can reattach after a lost connection
    # (`Resumable`); it reattaches with a resume ticket (`Resume`); it joins a running
    # session with a join ticket or a join token (`Join`).
    resumable: bool = False
    resume: str = ""
    join: str = ""


@dataclass(frozen=True)
class Input:
    data: bytes


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Resize:
    """A resize request; an absent key is 0, as in GoTTY."""

    columns: int
    rows: int


@dataclass(frozen=True)
class SetEncoding:
    base64: bool


ClientEvent = Input | Ping | Resize | SetEncoding


def _lowercase_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Go's encoding/json matches struct fields case-insensitively; the last key wins."""
    return {key.lower(): value for key, value in pairs}


def _loads_object(payload: bytes, what: str) -> dict[str, Any]:
    """A JSON object within `boundedjson`'s limits (depth, number length, valid Unicode):
    whatever the client sends, the only failure is a `ProtocolError`."""
    try:
        value = boundedjson.loads(payload, object_pairs_hook=_lowercase_keys)
    except boundedjson.JsonRejected as exc:
        raise ProtocolError(f"malformed {what}: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"malformed {what}: expected a JSON object")
    return value


def parse_init(frame: bytes) -> InitMessage:
    """Decode the init frame; a wrong type for a known key is an error, as in Go."""
    fields = _loads_object(frame, "init message")
    strings: dict[str, str] = {}
    for key in ("arguments", "authtoken", "resume", "join"):
        value = fields.get(key)
        if value is None:
            strings[key] = ""
        elif isinstance(value, str):
            strings[key] = value
        else:
            raise ProtocolError(f"malformed init message: {key} must be a string")
    return InitMessage(
        arguments=strings["arguments"],
        auth_token=strings["authtoken"],
        gotty_py=bool(fields.get("gottypy")),
        resumable=fields.get("resumable") is True,
        resume=strings["resume"],
        join=strings["join"],
    )


def parse_sharing_request(frame: bytes) -> dict[str, Any]:
    """A sharing request (`8` and a JSON object, webtty/sharing.py) within boundedjson's
    limits; `ProtocolError` for anything else."""
    return _loads_object(frame[1:], "sharing request")


def _dimension(value: Any, key: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"malformed resize message: {key} must be a number")
    if not math.isfinite(value):
        raise ProtocolError(f"malformed resize message: {key} out of range")
    size = int(value)  # Go truncates the float64 toward zero
    if not 0 <= size <= MAX_DIMENSION:
        raise ProtocolError(f"malformed resize message: {key} out of range")
    return size


def parse_resize(payload: bytes) -> Resize:
    if not payload:
        raise ProtocolError("malformed resize message: empty")
    if len(payload) > MAX_RESIZE_BYTES:
        raise ProtocolError(f"malformed resize message: longer than {MAX_RESIZE_BYTES} bytes")
    fields = _loads_object(payload, "resize message")
    return Resize(
        columns=_dimension(fields.get("columns"), "columns"),
        rows=_dimension(fields.get("rows"), "rows"),
    )


class ClientFrameDecoder:
    """Turns client frames after the init into events; holds the one bit of state (base64).

    sorenisanerd's client switches its input to base64 with `4base64`; yudai's client and
    gotty-client never do, so raw input is the default.
    """

    def __init__(self) -> None:
        self.base64_input = False

    def decode(self, frame: bytes) -> ClientEvent:
        if not frame:
            raise ProtocolError("empty message")
        kind, payload = frame[0], frame[1:]
        if kind == INPUT:
            if self.base64_input:
                try:
                    return Input(base64.b64decode(payload, validate=True))
                except (binascii.Error, ValueError):
                    raise ProtocolError("malformed input: invalid base64") from None
            return Input(payload)
        if kind == PING:
            return Ping()
        if kind == RESIZE_TERMINAL:
            return parse_resize(payload)
        if kind == SET_ENCODING:
            if payload == b"base64":
                self.base64_input = True
            elif payload == b"null":
                self.base64_input = False
            return SetEncoding(self.base64_input)
        raise ProtocolError(f"unknown message type {chr(kind)!r}")

    def input_chunks(self, frame: bytes, size: int) -> Iterator[bytes]:
        """An input frame's data in pieces of about `size` bytes, decoded one at a time, so
        that a large paste is never copied or decoded in one piece.

        The pieces join to what `decode` would give, and a malformed frame raises the same
        `ProtocolError`, though only when the piece holding the fault is reached."""
        if frame[:1] != bytes([INPUT]):
            raise ValueError("not an input frame")
        view = memoryview(frame)
        if not self.base64_input:
            for start in range(1, len(frame), size):
                yield bytes(view[start : start + size])
            return
        step = max(4, size // 4 * 4)  # whole base64 quanta
        for start in range(1, len(frame), step):
            piece = view[start : start + step]
            last = start + step >= len(frame)
            if not last and piece[-1] == ord("="):
                raise ProtocolError("malformed input: invalid base64")  # padding mid-way
            try:
                yield base64.b64decode(piece, validate=True)
            except (binascii.Error, ValueError):
                raise ProtocolError("malformed input: invalid base64") from None


# --- server -> client -------------------------------------------------------------------

def encode_output(data: bytes) -> str:
    return OUTPUT + base64.b64encode(data).decode("ascii")


def encode_pong() -> str:
    return PONG


def encode_title(title: str) -> str:
    return SET_WINDOW_TITLE + title


def encode_preferences(preferences: Mapping[str, Any]) -> str:
    """GoTTY sends its hterm preferences with dashes in the keys (font_size -> font-size)."""
    kebab = {key.replace("_", "-"): value for key, value in preferences.items()}
    return SET_PREFERENCES + json.dumps(kebab, separators=(",", ":"), sort_keys=True)


def encode_reconnect(seconds: int) -> str:
    return SET_RECONNECT + json.dumps(seconds)


def encode_buffer_size(size: int = ANNOUNCED_BUFFER_SIZE) -> str:
    return SET_BUFFER_SIZE + json.dumps(size)


def encode_session_info(info: Mapping[str, Any]) -> str:
    return SET_SESSION_INFO + json.dumps(info, separators=(",", ":"), sort_keys=True)


def close_reason(text: str) -> str:
    """Cut a close reason to what fits in a close frame without splitting a character."""
    raw = text.encode("utf-8")
    if len(raw) <= MAX_CLOSE_REASON_BYTES:
        return text
    return raw[: MAX_CLOSE_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


# --- ?arg= and ?jwt= parsing (GoTTY's url.Parse + url.Query semantics, Go >= 1.17) -------

def _query_unescape(text: str) -> bytes | None:
    """Go's QueryUnescape: '+' is a space; a bad %-escape invalidates the pair."""
    raw = text.replace("+", " ")
    index = raw.find("%")
    while index != -1:
        pair = raw[index + 1 : index + 3]
        if len(pair) != 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
            return None
        index = raw.find("%", index + 3)
    return unquote_to_bytes(raw)


def parse_query(arguments: str) -> dict[str, list[str]]:
    """Every parameter of the client's `Arguments` string, each with its values in order.

    Only the query part counts (everything before the first `?` and the fragment are
    ignored; no `?` means no values). Pairs with a `;` or a bad escape are dropped, as
    Go does. Values are bytes in Go; non-UTF-8 bytes survive here as surrogate escapes so
    that exec passes them through unchanged.
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in arguments):
        raise ProtocolError("malformed arguments: control character in URL")
    try:
        arguments.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no URL has one (parse_init refuses it)
        raise ProtocolError("malformed arguments: not valid Unicode") from None
    without_fragment = arguments.split("#", 1)[0]
    if "?" not in without_fragment:
        return {}
    query = without_fragment.split("?", 1)[1]
    values: dict[str, list[str]] = {}
    for pair in query.split("&"):
        if not pair or ";" in pair:
            continue
        key, _, value = pair.partition("=")
        key_bytes = _query_unescape(key)
        value_bytes = _query_unescape(value)
        if key_bytes is None or value_bytes is None:
            continue
        name = key_bytes.decode("utf-8", "surrogateescape")
        values.setdefault(name, []).append(value_bytes.decode("utf-8", "surrogateescape"))
    return values


def parse_arguments(arguments: str) -> list[str]:
    """GoTTY's `?arg=` values (--permit-arguments), in order."""
    return parse_query(arguments).get("arg", [])
