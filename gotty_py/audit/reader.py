"""Reading recordings and event logs back, tolerating what a crash can leave behind.

Rules of this module: pure reading, no writing. A file whose last line has no newline (the
server was killed while writing it) is read up to its last complete line and flagged
`truncated`. In a recording any complete line that is not valid is an error, since a crash
cannot cause it; in the event log a restarted server ends a cut-short line with a newline,
so such a line is skipped and reported by `verify_chain`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .castformat import MICROSECONDS, microseconds


class CastError(ValueError):
    """The file is not a readable asciicast v2 or v3 recording; the message says where."""


@dataclass
class Cast:
    """A recording, either version: `events` carry their time since the start (v3's
    intervals added up), so that every reader sees one shape."""

    header: dict[str, Any]
    events: list[tuple[float, str, str]] = field(default_factory=list)
    truncated: bool = False  # the last line was incomplete and was left out

    @property
    def version(self) -> int:
        return int(self.header["version"])

    def text(self, code: str = "o") -> str:
        """All the data of one kind of event: the output as a terminal received it."""
        return "".join(data for _, kind, data in self.events if kind == code)

    @property
    def metadata(self) -> dict[str, Any]:
        value = self.header.get("x-gotty-py", {})
        return value if isinstance(value, dict) else {}


def _complete_lines(data: bytes) -> tuple[list[bytes], bool]:
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    return lines, tail != b""


def _check_header(path: str | Path, header: Any) -> None:
    if not isinstance(header, dict) or header.get("version") not in (2, 3):
        raise CastError(f"{path}:1: not an asciicast v2 or v3 header")
    if header["version"] == 2:
        size = (header.get("width"), header.get("height"))
    else:
        term = header.get("term")
        size = (term.get("cols"), term.get("rows")) if isinstance(term, dict) else (None, None)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size):
        raise CastError(f"{path}:1: the header has no terminal size")


def read_cast(path: str | Path) -> Cast:
    """Parse an asciicast v2 or v3 file: the header, then `[time, code, data]` events (v3:
    the time is the interval since the event before, and `#` lines are comments)."""
    lines, truncated = _complete_lines(Path(path).read_bytes())
    if not lines:
        raise CastError(f"{path}: no complete header line")
    try:
        header = json.loads(lines[0])
    except ValueError as exc:
        raise CastError(f"{path}:1: header is not JSON: {exc}") from None
    _check_header(path, header)
    cast = Cast(header=header, truncated=truncated)
    intervals = header["version"] == 3
    micros = 0  # v3: the running total, in whole microseconds (no float drift)
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or (intervals and line.startswith(b"#")):
            continue
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise CastError(f"{path}:{number}: not JSON: {exc}") from None
        if (not isinstance(event, list) or len(event) != 3
                or not isinstance(event[0], int | float) or not isinstance(event[1], str)
                or not isinstance(event[2], str)):
            raise CastError(f"{path}:{number}: not a [time, code, data] event")
        if event[0] < 0:
            raise CastError(f"{path}:{number}: negative time")
        if intervals:
            micros += microseconds(event[0])
            cast.events.append((micros / MICROSECONDS, event[1], event[2]))
        else:
            cast.events.append((float(event[0]), event[1], event[2]))
    return cast


def read_event_log(path: str | Path) -> list[dict[str, Any]]:
    """Every complete, readable line of the event log.

    A line a crash cut short is skipped: the cut-short last line, and one a restarted server
    ended with a newline before going on (`verify_chain` reports those as damaged).
    """
    lines, _ = _complete_lines(Path(path).read_bytes())
    records: list[dict[str, Any]] = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


@dataclass
class ChainReport:
    """What `verify_chain` found in an event log."""

    lines: int = 0
    broken: list[int] = field(default_factory=list)  # lines whose prev_sha256 does not match
    damaged: list[int] = field(default_factory=list)  # lines that are not JSON (crash)
    last: bytes | None = None  # the last complete line: where the next rolled file goes on

    @property
    def intact(self) -> bool:
        return not self.broken


def verify_chain(path: str | Path, previous: bytes | None = None,
                 trust_first: bool = False) -> ChainReport:
    """Check every line's `prev_sha256` against the line before it.

    A changed, inserted or deleted line breaks the chain at the line after it. Lines
    without the field (written before the chain existed) are not checked. Deleting lines at
    the end cannot be seen from the file alone (signed checkpoints can: `sealcheck`).
    A rolled log's next file goes on from `previous`, the last line of the file before;
    `trust_first` takes the first line's link as given (its file was removed).
    """
    lines, _ = _complete_lines(Path(path).read_bytes())
    report = ChainReport(lines=len(lines), last=lines[-1] if lines else previous)
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
            report.damaged.append(number)
        if isinstance(record, dict) and "prev_sha256" in record:
            expected = hashlib.sha256(previous + b"\n").hexdigest() if previous is not None \
                else None
            if record["prev_sha256"] != expected and not (trust_first and number == 1):
                report.broken.append(number)
        previous = line
    return report


def file_digest(path: str | Path) -> tuple[int, str]:
    """(size, SHA-256 hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class CleanupStatus(StrEnum):
    """What became of a session's cleanup hook, as its event-log lines tell it."""

    NONE = "-"  # no hook was configured, no process ran, or the session has not ended
    OK = "ok"
    FAILED = "failed"  # it ran and failed, timed out, or could not start
    NEVER_RAN = "never ran"  # its end line expects one and no cleanup line follows


@dataclass
class SessionRecord:
    """What the event log says of one session: its start, end and cleanup lines."""

    session: str
    start: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    cleanup: dict[str, Any] | None = None

    @property
    def cleanup_status(self) -> CleanupStatus:
        if self.cleanup is not None:
            return CleanupStatus.OK if self.cleanup.get("ok") else CleanupStatus.FAILED
        if self.end is not None and self.end.get("cleanup_expected"):
            return CleanupStatus.NEVER_RAN
        return CleanupStatus.NONE

    def get(self, key: str) -> Any:
        for record in (self.end, self.start):
            if record is not None and key in record:
                return record[key]
        return None


def sessions(records: list[dict[str, Any]]) -> Iterator[SessionRecord]:
    """Pair the start and end lines by session id, in the order sessions first appear."""
    by_id: dict[str, SessionRecord] = {}
    for record in records:
        if record.get("event") not in ("start", "end", "cleanup"):
            continue  # the log's own lines (`event-log-lost`) belong to no session
        session_id = str(record.get("session", ""))
        entry = by_id.setdefault(session_id, SessionRecord(session_id))
        if record.get("event") == "start":
            entry.start = record
        elif record.get("event") == "end":
            entry.end = record
        elif record.get("event") == "cleanup":
            entry.cleanup = record
    yield from by_id.values()
