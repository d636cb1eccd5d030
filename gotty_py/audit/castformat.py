"""The two asciicast versions gotty-py writes: headers, event times, and v2 to v3.

Rules of this module: pure text and values, no I/O. asciicast v2 stamps each event with
the seconds since the start; v3 with the interval since the event before it, and puts the
terminal in a `term` object (`cols`, `rows`, `type`) instead of `width`, `height` and
`env.TERM`; v3 adds the `x` exit event and `#` comment lines. Times are kept in whole
microseconds, so the intervals of a v3 file add up exactly to the times a v2 file would
show (no drift over a long session).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any

MICROSECONDS = 1_000_000
EXIT = "x"  # v3's exit event; its data is the exit status as a decimal string


class CastFormat(StrEnum):
    """`--audit-format`: which asciicast version a new recording is written in."""

    V2 = "v2"
    V3 = "v3"


def microseconds(seconds: float) -> int:
    return max(0, round(seconds * MICROSECONDS))


def _seconds_text(micros: int) -> str:
    whole, fraction = divmod(micros, MICROSECONDS)
    return f"{whole}.{fraction:06d}"


class EventClock:
    """The time field of each event, in the order the events are written."""

    def __init__(self, fmt: CastFormat) -> None:
        self.format = fmt
        self._last = 0  # microseconds of the previous event (v3)

    def stamp(self, seconds: float) -> str:
        if self.format is CastFormat.V2:
            return f"{seconds:.6f}"
        now = max(self._last, microseconds(seconds))  # never a negative interval
        interval, self._last = now - self._last, now
        return _seconds_text(interval)


def event_line(stamp: str, code: str, data: str, *, ascii_only: bool = True) -> str:
    """One `[time, code, data]` line (without its newline)."""
    return f"[{stamp}, {json.dumps(code)}, {json.dumps(data, ensure_ascii=ascii_only)}]"


def exit_code_text(status: int) -> str:
    """The `x` event's data: the status as a shell reports it (`$?`): a process killed by
    signal N (`Popen`'s -N) is 128+N."""
    return str(128 - status if status < 0 else status)


def build_header(*, width: int, height: int, timestamp: float, command: Sequence[str] | str,
                 title: str, env: Mapping[str, str], metadata: Mapping[str, Any],
                 metadata_key: str = "x-gotty-py",
                 fmt: CastFormat = CastFormat.V2) -> dict[str, Any]:
    """A recording's header; session metadata under one extra key that players ignore.

    `env` is v2's (with `TERM`); in v3 `TERM` becomes the `term` object's `type`.
    """
    v2 = {
        "version": 2,
        "width": width,
        "height": height,
        "timestamp": int(timestamp),
        "command": command if isinstance(command, str) else " ".join(command),
        "title": title,
        "env": dict(env),
        metadata_key: dict(metadata),
    }
    return v2 if fmt is CastFormat.V2 else header_to_v3(v2)


def header_to_v3(header: Mapping[str, Any]) -> dict[str, Any]:
    """A v2 header as v3: `width`, `height`, `env.TERM` and `theme` move into `term`; every
    other key (the session metadata included) stays as it was."""
    term: dict[str, Any] = {"cols": header["width"], "rows": header["height"]}
    env = dict(header.get("env") or {})
    term_type = env.pop("TERM", None)
    if term_type is not None:
        term["type"] = term_type
    if "theme" in header:
        term["theme"] = header["theme"]
    converted: dict[str, Any] = {"version": 3, "term": term}
    for key, value in header.items():
        if key not in ("version", "width", "height", "env", "theme"):
            converted[key] = value
    if env or "env" in header:
        converted["env"] = env
    return converted


def convert_to_v3(header: Mapping[str, Any],
                  events: Iterable[tuple[float, str, str]]) -> Iterator[str]:
    """The lines (without newlines) of a v3 file holding a v2 recording's header and its
    events (with their times since the start)."""
    yield json.dumps(header_to_v3(header), ensure_ascii=True)
    clock = EventClock(CastFormat.V3)
    for seconds, code, data in events:
        yield event_line(clock.stamp(seconds), code, data, ascii_only=False)
