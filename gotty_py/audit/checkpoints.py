"""Signed checkpoints of the event log: what one says, and when the server makes one.

Rules of this module: a checkpoint is a C2SP-style signed note (`signing`) whose text is

    gotty-py event log <log id>
    <size: lines of the chain before this checkpoint, counting rolled files>
    <base64 SHA-256 of line <size>, i.e. the checkpoint line's own prev_sha256>
    time <UTC ISO 8601>
    epoch <epoch> <sequence> <kind>
    interval <lines> <seconds>

It is written into the event log itself as a `checkpoint` line (so it is part of the hash
chain) and handed to the publishers given at construction (the copy file, the command).
The log id is made once, when a log without checkpoints gets its first; each server run is
a new epoch, opened by a `start` checkpoint and closed by a `final` one at shutdown, with
`periodic` ones between (every `interval` lines, and every `interval` seconds even when
idle, so a live log never has an old newest checkpoint), and `roll` ones around a roll.
`Checkpointer` runs only in the writer thread; parsing and formatting are pure.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .naming import FILE_MODE, make_directory
from .signing import Signer

log = logging.getLogger("gotty_py.audit")

ORIGIN_PREFIX = "gotty-py event log "
CHECKPOINT_EVENT = "checkpoint"
ZERO_HASH = bytes(32)  # the "last line" of an empty log


class CheckpointKind(StrEnum):
    START = "start"  # a server run (an epoch) opened the log
    PERIODIC = "periodic"  # every N lines or T seconds
    ROLL = "roll"  # last line of a rolled file, and after the first line of the next
    FINAL = "final"  # the server's last line at a clean shutdown


class CheckpointError(ValueError):
    """A note text that is not a checkpoint; the message says which line."""


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> float:
    """The time of a checkpoint or of an event-log line (`time`); CheckpointError if bad."""
    try:
        moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise CheckpointError(f"bad time {text!r}") from None
    return moment.replace(tzinfo=datetime.UTC).timestamp()


@dataclass(frozen=True)
class Checkpoint:
    """What one checkpoint says about the log."""

    log_id: str
    size: int
    last_hash: bytes
    time: float
    epoch: int
    sequence: int
    kind: CheckpointKind
    interval_lines: int
    interval_seconds: int

    def text(self) -> str:
        return (f"{ORIGIN_PREFIX}{self.log_id}\n{self.size}\n"
                f"{base64.b64encode(self.last_hash).decode()}\ntime {_iso(self.time)}\n"
                f"epoch {self.epoch} {self.sequence} {self.kind}\n"
                f"interval {self.interval_lines} {self.interval_seconds}\n")

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) != 7 or lines[6] != "":
            raise CheckpointError("a checkpoint has six lines")
        origin, size, digest, when, epoch, interval = lines[:6]
        if not origin.startswith(ORIGIN_PREFIX) or not re.fullmatch(
                r"[0-9a-f]{8,64}", origin[len(ORIGIN_PREFIX):]):
            raise CheckpointError(f"line 1: not a gotty-py event log origin: {origin[:60]!r}")
        try:
            last_hash = base64.b64decode(digest, validate=True)
        except (ValueError, binascii.Error):
            raise CheckpointError("line 3: the hash is not base64") from None
        if not re.fullmatch(r"\d{1,15}", size) or len(last_hash) != 32:
            raise CheckpointError("lines 2-3: not a size and a SHA-256")
        epoch_words = epoch.split(" ")
        interval_words = interval.split(" ")
        if (len(epoch_words) != 4 or epoch_words[0] != "epoch"
                or not all(w.isdigit() for w in epoch_words[1:3])
                or epoch_words[3] not in set(CheckpointKind)):
            raise CheckpointError("line 5: not 'epoch N SEQ KIND'")
        if (len(interval_words) != 3 or interval_words[0] != "interval"
                or not all(w.isdigit() for w in interval_words[1:])):
            raise CheckpointError("line 6: not 'interval LINES SECONDS'")
        if not when.startswith("time "):
            raise CheckpointError("line 4: not 'time ISO-8601'")
        return cls(origin[len(ORIGIN_PREFIX):], int(size), last_hash, parse_time(when[5:]),
                   int(epoch_words[1]), int(epoch_words[2]), CheckpointKind(epoch_words[3]),
                   int(interval_words[1]), int(interval_words[2]))


def checkpoint_record(note: str, checkpoint: Checkpoint) -> dict[str, Any]:
    """The event-log line that carries a note (its `prev_sha256` is added by the log)."""
    return {"event": CHECKPOINT_EVENT, "time": _iso(checkpoint.time), "kind": checkpoint.kind,
            "size": checkpoint.size, "note": note}


@dataclass(frozen=True)
class LogState:
    """What an existing log file tells a server that opens it."""

    lines: int  # lines in the chain, counting those of rolled files before this one
    log_id: str | None  # from its last checkpoint
    epoch: int  # of its last checkpoint, 0 for none


SCAN_CHUNK = 1 << 20  # bytes read at a time: memory stays bounded whatever the log's size
MAX_LINE = 4 << 20  # a longer line cannot be a checkpoint (notes are far smaller)


def scan_log(fd: int) -> LogState:
    """Count the lines of an open log file and read its last checkpoint (blocking): the
    file is read once forwards in chunks to count, then backwards from its end only as far
    as its last checkpoint."""
    size = os.fstat(fd).st_size
    lines, offset, first = 0, 0, b""
    while offset < size:
        chunk = os.pread(fd, min(SCAN_CHUNK, size - offset), offset)
        if not chunk:
            break
        if offset == 0:
            first = chunk.split(b"\n", 1)[0]
        lines += chunk.count(b"\n")
        offset += len(chunk)
    if offset and os.pread(fd, 1, offset - 1) != b"\n":
        lines += 1  # a last line without its newline
    record = _json(first)
    before = record["lines_before"] if (record.get("event") == "log-rolled" and isinstance(
        record.get("lines_before"), int)) else 0
    checkpoint = _last_checkpoint(fd, offset)
    if checkpoint is None:
        return LogState(before + lines, None, 0)
    return LogState(before + lines, checkpoint.log_id, checkpoint.epoch)


def _last_checkpoint(fd: int, size: int) -> Checkpoint | None:
    """The last checkpoint line's checkpoint (not verified: the server's own), reading the
    file backwards in chunks."""
    end, carry = size, b""
    while end > 0:
        start = max(0, end - SCAN_CHUNK)
        pieces = (os.pread(fd, end - start, start) + carry).split(b"\n")
        carry = pieces.pop(0) if start > 0 else b""
        if len(carry) > MAX_LINE:
            carry = b""  # a line this long is no checkpoint: skip it
        for line in reversed(pieces):
            checkpoint = _checkpoint_of(line)
            if checkpoint is not None:
                return checkpoint
        end = start
    return None


def _checkpoint_of(line: bytes) -> Checkpoint | None:
    if b'"checkpoint"' not in line:
        return None
    record = _json(line)
    note = record.get("note")
    if record.get("event") != CHECKPOINT_EVENT or not isinstance(note, str):
        return None
    try:
        return Checkpoint.parse(note[: note.rfind("\n\n") + 1])
    except CheckpointError:
        return None


def _json(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


Publisher = Callable[[str, Checkpoint], None]  # called in the writer thread


class Checkpointer:
    """When the event log is due a checkpoint, and making it (writer thread only)."""

    def __init__(self, signer: Signer, interval_lines: int, interval_seconds: int, *,
                 publishers: Sequence[Publisher] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.signer = signer
        self.interval_lines = interval_lines
        self.interval_seconds = interval_seconds
        self.publishers = tuple(publishers)
        self.clock = clock
        self.lines = 0  # lines in the chain so far
        self.log_id = ""
        self.epoch = 0
        self.sequence = 0
        self.started = False
        self._since = 0  # lines since the last checkpoint
        self._last_time = 0.0

    def resume(self, state: LogState) -> None:
        """The log was (re)opened: take its line count; at the first open, its epoch."""
        self.lines = state.lines
        if not self.started:
            self.log_id = state.log_id or secrets.token_hex(16)
            self.epoch = state.epoch + 1
            self.sequence = 0

    def counted(self) -> bool:
        """One more line was written; True when it is time for a checkpoint."""
        self.lines += 1
        self._since += 1
        return self._since >= self.interval_lines

    def due(self) -> bool:
        return self.clock() - self._last_time >= self.interval_seconds

    def make(self, kind: CheckpointKind, last_hash_hex: str | None) -> tuple[str, Checkpoint]:
        """A signed checkpoint of the lines so far (the caller writes it as the next line)."""
        now = self.clock()
        checkpoint = Checkpoint(
            self.log_id, self.lines,
            bytes.fromhex(last_hash_hex) if last_hash_hex else ZERO_HASH, now,
            self.epoch, self.sequence, kind, self.interval_lines, self.interval_seconds)
        self.sequence += 1
        self.started = True
        self._last_time = now
        self._since = -1  # the checkpoint's own line is counted next, and covered by the next
        return self.signer.sign(checkpoint.text()), checkpoint

    def publish(self, note: str, checkpoint: Checkpoint) -> None:
        for publisher in self.publishers:
            publisher(note, checkpoint)


class CheckpointCopy:
    """`--audit-checkpoint-copy`: every note appended to a second file, each followed by a
    blank line (writer thread only). A failure is logged and counted, never raised: the
    checkpoint is already in the event log, and the next one covers this one's lines."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.failures = 0
        self._fd: int | None = None

    def __call__(self, note: str, checkpoint: Checkpoint) -> None:
        try:
            if self._fd is None:
                parent = os.path.dirname(self.path)
                if parent:
                    make_directory(parent)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND
                                   | os.O_CLOEXEC, FILE_MODE)
            os.write(self._fd, (note + "\n").encode())
            if checkpoint.kind in (CheckpointKind.FINAL, CheckpointKind.ROLL):
                os.fsync(self._fd)
        except OSError as exc:
            self.failures += 1
            log.error("Audit: writing checkpoint %d.%d to the copy %s failed (%d failures): "
                      "%s", checkpoint.epoch, checkpoint.sequence, self.path, self.failures,
                      exc.strerror or exc)
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)


def split_notes(text: str) -> list[str]:
    """The notes of a copy file, in order: text lines, a blank line, signature lines, a
    blank line. A last note cut short (a crash while appending) is left out."""
    notes: list[str] = []
    current: list[str] = []
    signed = False
    for line in text.split("\n"):
        if line == "":
            if signed:
                notes.append("\n".join(current) + "\n")
                current, signed = [], False
            elif current:
                current.append("")
            continue
        if current and current[-1] == "" and line.startswith("\u2014 "):
            signed = True
        current.append(line)
    return notes
