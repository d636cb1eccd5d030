"""A checker of asciicast v3 files written from the format's documentation
(docs.asciinema.org, "asciicast v3"), independent of gotty_py's reader and writer.

asciinema 3 (the Rust CLI that plays v3) is not on PyPI or in Debian, so it cannot be
installed by this project's own files; the web player, asciinema-player, plays our v3 files
in tests/browser/test_asciinema_player.py, and this checker holds them against the
documented rules, which a player may be lenient about:

- newline-delimited JSON; the first line is the header, a JSON object, never a comment;
- header: `version` 3; `term` an object with integer `cols` and `rows` (required) and
  optional string `type`, string `version`, object `theme`; optional integer `timestamp`,
  number `idle_time_limit`, strings `command` and `title`, `env` an object of strings,
  `tags` an array of strings;
- every other line is a comment (starts with `#`) or an event `[interval, code, data]`:
  interval a non-negative number (seconds since the previous event), code and data
  strings; `r` data is `COLSxROWS`; `x` data is a numerical exit status and, typically,
  the very last event.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KNOWN_CODES = {"o", "i", "m", "r", "x"}
_SIZE = re.compile(r"[0-9]+x[0-9]+")


@dataclass
class V3File:
    header: dict[str, Any]
    events: list[tuple[float, str, str]] = field(default_factory=list)  # intervals
    comments: int = 0

    def absolute(self) -> list[tuple[float, str, str]]:
        """The events with their time since the start (the intervals summed)."""
        total = 0.0
        out = []
        for interval, code, data in self.events:
            total += interval
            out.append((total, code, data))
        return out


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_v3(path: Path) -> V3File:
    """Parse `path` by the documented rules; AssertionError naming the line if it breaks one."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), "the last line has no newline"
    lines = data.decode("utf-8").split("\n")[:-1]
    assert lines and not lines[0].startswith("#"), "the first line must be the header"
    header = json.loads(lines[0])
    assert isinstance(header, dict), "the header is not an object"
    assert header.get("version") == 3, "version must be 3"
    term = header.get("term")
    assert isinstance(term, dict), "term must be an object"
    assert _integer(term.get("cols")) and _integer(term.get("rows")), "term.cols/rows"
    for key in ("type", "version"):
        assert key not in term or isinstance(term[key], str), f"term.{key} must be a string"
    assert "theme" not in term or isinstance(term["theme"], dict), "term.theme"
    assert "timestamp" not in header or _integer(header["timestamp"]), "timestamp"
    assert "idle_time_limit" not in header or isinstance(header["idle_time_limit"],
                                                         int | float), "idle_time_limit"
    for key in ("command", "title"):
        assert key not in header or isinstance(header[key], str), f"{key} must be a string"
    env = header.get("env", {})
    assert isinstance(env, dict) and all(isinstance(v, str) for v in env.values()), "env"
    assert "width" not in header and "height" not in header, "v2's width/height in a v3 file"
    cast = V3File(header=header)
    for number, line in enumerate(lines[1:], start=2):
        if line.startswith("#"):
            cast.comments += 1
            continue
        event = json.loads(line)
        where = f"line {number}"
        assert isinstance(event, list) and len(event) == 3, f"{where}: not a 3-element array"
        interval, code, payload = event
        assert isinstance(interval, int | float) and not isinstance(interval, bool), where
        assert interval >= 0, f"{where}: negative interval"
        assert isinstance(code, str) and isinstance(payload, str), where
        assert code in KNOWN_CODES, f"{where}: code {code!r}"
        if code == "r":
            assert _SIZE.fullmatch(payload), f"{where}: resize data {payload!r}"
        if code == "x":
            assert re.fullmatch(r"-?[0-9]+", payload), f"{where}: exit status {payload!r}"
        cast.events.append((float(interval), code, payload))
    exits = [i for i, (_, code, _) in enumerate(cast.events) if code == "x"]
    assert exits in ([], [len(cast.events) - 1]), "the exit event must be the last, once"
    return cast
