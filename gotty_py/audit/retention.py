"""`--audit-retention`: which recordings and rolled event logs to remove, and when to roll.

Rules of this module: the grammar and the choice are pure (`RetentionPolicy.parse`,
`choose`, `roll_due`); `scan` and `remove` do the file-system work, in a thread, never on
the event loop. Only recordings (`*.cast` under the audit directory) and the event log's
rolled files are ever candidates: never the active event log, never a file of a session
still running (the caller gives their paths), never a file changed after the pass began.
Removal goes oldest first (by modification time): first everything older than the age,
then more until the total is within the size.

Grammar: one or two comma-separated items, at most one of each kind:
    age  = INTEGER ("s" | "m" | "h" | "d" | "w")         e.g. 30d
    size = INTEGER ("B" | "KiB" | "MiB" | "GiB" | "TiB")  e.g. 10GiB
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .rolled import rolled_files

AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
SIZE_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
ROLL_AGE = 86400.0  # the event log is rolled once it holds a day of lines...
ROLL_SIZE = 64 << 20  # ...or this many bytes (or an eighth of the size limit, if less)
PASS_INTERVAL = 600.0  # seconds between two retention passes (the first runs at start)
RECORDING_SUFFIX = ".cast"


class RetentionError(ValueError):
    """The option's value does not parse; the message gives the grammar."""


def parse_duration(text: str) -> float:
    """`30d`, `12h`, `90s`... as seconds; RetentionError otherwise."""
    match = re.fullmatch(r"(\d{1,9})([smhdw])", text.strip())
    if match is None or int(match.group(1)) == 0:
        raise RetentionError(f"{text!r} is not an age (a positive whole number and one of "
                             "s m h d w, e.g. 30d)")
    return float(int(match.group(1)) * AGE_UNITS[match.group(2)])


def _parse_size(text: str) -> int | None:
    match = re.fullmatch(r"(\d{1,15})(B|KiB|MiB|GiB|TiB)", text.strip())
    if match is None or int(match.group(1)) == 0:
        return None
    return int(match.group(1)) * SIZE_UNITS[match.group(2)]


class Kind(StrEnum):
    RECORDING = "recording"
    EVENT_LOG = "event-log"  # a rolled file of the event log


class Reason(StrEnum):
    AGE = "age"
    SIZE = "size"


@dataclass(frozen=True)
class RetentionPolicy:
    max_age: float | None  # seconds
    max_bytes: int | None

    @classmethod
    def parse(cls, text: str) -> RetentionPolicy:
        age: float | None = None
        size: int | None = None
        items = [item.strip() for item in text.split(",")]
        if not 1 <= len(items) <= 2:
            raise RetentionError(f"{text!r}: give an age, a size, or both (e.g. 30d,10GiB)")
        for item in items:
            parsed = _parse_size(item)
            if parsed is not None and size is None:
                size = parsed
                continue
            if parsed is None and age is None and re.fullmatch(r"\d+[smhdw]", item):
                age = parse_duration(item)
                continue
            raise RetentionError(f"{text!r}: {item!r} is neither an age (30d; units s m h d "
                                 "w) nor a size (10GiB; units B KiB MiB GiB TiB), or repeats "
                                 "one")
        return cls(age, size)

    @property
    def roll_size(self) -> int:
        return min(ROLL_SIZE, self.max_bytes // 8) if self.max_bytes else ROLL_SIZE

    def roll_due(self, log_size: int, first_line_age: float | None) -> bool:
        """Whether the active event log should be rolled now."""
        if log_size == 0:
            return False
        roll_age = min(ROLL_AGE, self.max_age / 2) if self.max_age else ROLL_AGE
        return log_size >= self.roll_size or (
            first_line_age is not None and first_line_age >= roll_age)


@dataclass(frozen=True)
class Candidate:
    path: str
    kind: Kind
    size: int
    mtime: float


@dataclass(frozen=True)
class Removal:
    candidate: Candidate
    reason: Reason


def choose(policy: RetentionPolicy, candidates: Iterable[Candidate], now: float
           ) -> list[Removal]:
    """What to remove, oldest first: everything older than the age, then the oldest until
    the rest fits the size."""
    ordered = sorted(candidates, key=lambda c: (c.mtime, c.path))
    chosen: list[Removal] = []
    kept: list[Candidate] = []
    for candidate in ordered:
        if policy.max_age is not None and now - candidate.mtime > policy.max_age:
            chosen.append(Removal(candidate, Reason.AGE))
        else:
            kept.append(candidate)
    if policy.max_bytes is not None:
        total = sum(c.size for c in kept)
        for candidate in kept:
            if total <= policy.max_bytes:
                break
            chosen.append(Removal(candidate, Reason.SIZE))
            total -= candidate.size
    return chosen


def scan(audit_dir: str | None, event_log: str | None, protected: Collection[str],
         started: float) -> list[Candidate]:
    """The candidates on disk (blocking): recordings under the audit directory and the
    event log's rolled files, less the protected paths (live sessions) and anything
    changed since the pass `started`."""
    found: list[Candidate] = []
    keep = {os.path.abspath(p) for p in protected}

    def add(path: str, kind: Kind) -> None:
        try:
            stat = os.lstat(path)
        except OSError:
            return
        if (os.path.abspath(path) in keep or not os.path.isfile(path)
                or os.path.islink(path) or stat.st_mtime >= started):
            return
        found.append(Candidate(path, kind, stat.st_size, stat.st_mtime))

    if audit_dir:
        for root, _dirs, names in os.walk(audit_dir):
            for name in names:
                path = os.path.join(root, name)
                if name.endswith(RECORDING_SUFFIX) and not name.startswith("."):
                    add(path, Kind.RECORDING)
    if event_log:
        for rolled in rolled_files(event_log):
            add(str(rolled), Kind.EVENT_LOG)
    return found


def remove(removals: Iterable[Removal], audit_dir: str | None) -> list[tuple[Removal, str | None]]:
    """Unlink each file (blocking); (removal, error or None). Directories of the audit
    directory left empty are removed too."""
    done: list[tuple[Removal, str | None]] = []
    for removal in removals:
        path = removal.candidate.path
        try:
            os.unlink(path)
        except FileNotFoundError:
            done.append((removal, "already gone"))
            continue
        except OSError as exc:
            done.append((removal, exc.strerror or str(exc)))
            continue
        done.append((removal, None))
        if audit_dir:
            _prune(Path(path).parent, Path(audit_dir))
    return done


def _prune(directory: Path, top: Path) -> None:
    while directory != top and top in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
