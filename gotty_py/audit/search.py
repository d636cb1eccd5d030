"""Finding a string in a recording's output, as the screen showed it.

Rules of this module: pure, no I/O; the output is fed event by event (`feed`), so that a
recording of any length is searched in constant memory. Matching ignores terminal control
sequences (CSI such as colours and cursor moves, OSC such as titles and hyperlinks, DCS and
the other string controls, two-byte ESC sequences; a sequence split across events too) and
the other C0 controls but tab and newline, so `error` is found in `\\x1b[31merror` and in
`err\\x1b[0mor`, and a match may span any number of events. It does not render the screen:
text overwritten by cursor moves or carriage returns still matches as it was sent. Each
match is reported once, with the time of the event holding its first character: the
offset to give `replay --from`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

ESC = "\x1b"
BEL = "\x07"


class _Mode(Enum):
    TEXT = "text"
    ESCAPE = "escape"  # after ESC
    CSI = "csi"  # ESC [ ... final byte 0x40-0x7e
    STRING = "string"  # OSC, DCS, SOS, PM, APC: up to BEL or ESC \
    STRING_ESCAPE = "string-escape"  # ESC inside a string control
    INTERMEDIATE = "intermediate"  # ESC followed by 0x20-0x2f bytes, then a final byte


_STRING_INTRODUCERS = frozenset("]PX^_")  # OSC, DCS, SOS, PM, APC


class ControlStripper:
    """Terminal output to the text it shows, across events: the parser's state carries over."""

    def __init__(self) -> None:
        self._mode = _Mode.TEXT

    def feed(self, data: str) -> str:
        kept: list[str] = []
        mode = self._mode
        for char in data:
            code = ord(char)
            if mode is _Mode.TEXT:
                if char == ESC:
                    mode = _Mode.ESCAPE
                elif (code >= 0x20 and code != 0x7F) or char in "\t\n":
                    kept.append(char)
            elif mode is _Mode.ESCAPE:
                if char == "[":
                    mode = _Mode.CSI
                elif char in _STRING_INTRODUCERS:
                    mode = _Mode.STRING
                elif 0x20 <= code <= 0x2F:
                    mode = _Mode.INTERMEDIATE
                elif char == ESC:
                    mode = _Mode.ESCAPE
                else:
                    mode = _Mode.TEXT  # a two-byte sequence (ESC 7, ESC =, ...) ends here
            elif mode is _Mode.CSI:  # parameter and intermediate bytes, then the final
                if 0x40 <= code <= 0x7E:
                    mode = _Mode.TEXT
            elif mode is _Mode.INTERMEDIATE:
                if 0x30 <= code <= 0x7E:
                    mode = _Mode.TEXT
            elif mode is _Mode.STRING:
                if char == BEL:
                    mode = _Mode.TEXT
                elif char == ESC:
                    mode = _Mode.STRING_ESCAPE
            elif mode is _Mode.STRING_ESCAPE:
                mode = _Mode.TEXT if char == "\\" else _Mode.STRING
        self._mode = mode
        return "".join(kept)


class OutputSearch:
    """Where `needle` appears in the shown text of a stream of output events."""

    def __init__(self, needle: str, *, ignore_case: bool = False) -> None:
        if not needle:
            raise ValueError("the text to search for is empty")
        self._ignore_case = ignore_case
        self.needle = needle.lower() if ignore_case else needle
        self._stripper = ControlStripper()
        self._tail = ""  # the last len(needle)-1 characters shown
        self._tail_times: list[float] = []  # the time of each of them

    def feed(self, t: float, data: str) -> list[float]:
        """The times of the matches that end in this event's text."""
        shown = self._stripper.feed(data)
        if not shown:
            return []
        if self._ignore_case:
            shown = shown.lower()
        haystack = self._tail + shown
        found: list[float] = []
        start = haystack.find(self.needle)
        while start != -1:
            found.append(self._tail_times[start] if start < len(self._tail) else t)
            start = haystack.find(self.needle, start + 1)
        # Keep the last len(needle)-1 characters (a match ending later may start in them),
        # and their times, without building a list the size of the event.
        keep = min(len(self.needle) - 1, len(haystack))
        old = max(0, keep - len(shown))  # how many of them come from the old tail
        self._tail_times = self._tail_times[len(self._tail_times) - old:] if old else []
        self._tail_times += [t] * (keep - old)
        self._tail = haystack[len(haystack) - keep:] if keep else ""
        return found


def search_events(needle: str, events: Iterable[tuple[float, str, str]], *,
                  ignore_case: bool = False) -> list[float]:
    """The match times of `needle` in the output (`o`) events."""
    search = OutputSearch(needle, ignore_case=ignore_case)
    found: list[float] = []
    for t, code, data in events:
        if code == "o":
            found.extend(search.feed(t, data))
    return found
