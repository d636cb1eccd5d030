"""The event log: one JSON line when a session starts and one when it ends, appended off-loop.

Rules of this module: each line is a whole JSON object written with O_APPEND in one
write, so lines never interleave and a crash leaves at most the last one cut short;
`append` runs in the writer thread, `submit` queues from the event loop. After a failure
the log is reopened on the next line, and `healthy` tells the loop whether the last
attempt worked (fail-closed sessions are refused while it is not).

Every line carries `prev_sha256`, the SHA-256 of the line before it (null for the first):
a hash chain, so that changing, inserting or deleting a line breaks the chain at the next
one (`gotty-py-audit verify`). A restarted server continues the chain from the file's last
line; a line a crash cut short is first ended with a newline, so no line is ever glued to
it, and the chain goes on from it.

Before each line, the open file is checked to still be the file at the path (device and
inode): a log deleted, or replaced by another file (a rename over it), while the server
writes is never written to again. It is logged, and the next line goes to a file at the
path again (re-created, directory and all, if need be), after an `event-log-lost` line that
says what happened; the chain goes on from the last line this server wrote, so the seam is
the one place `verify` reports broken, and the lost file's last line (a copy a log shipper
kept) is what it continues. The loss is a failure like any other: `healthy` is false from
its discovery until a file at the path has been opened again (by the next line, or the
readiness probe's retry), so fail-closed sessions are refused meanwhile.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from ..config import expand_home
from .checkpoints import Checkpointer, CheckpointKind, checkpoint_record, scan_log
from .naming import FILE_MODE, make_directory
from .rolled import rolled_name, rolled_record
from .writer import BackgroundWriter

log = logging.getLogger("gotty_py.audit")

EVENT_LOG_NAME = "sessions.jsonl"  # in the audit directory, unless the log is named


def event_log_location(event_log: str, audit_dir: str) -> str | None:
    """Where the event log is: `--audit-event-log`, else `sessions.jsonl` in `--audit-dir`;
    None with neither. The server and `gotty-py-audit` find it by this one rule."""
    if event_log:
        return expand_home(event_log)
    if audit_dir:
        return os.path.join(expand_home(audit_dir), EVENT_LOG_NAME)
    return None


def utc_iso(timestamp: float) -> str:
    """`2024-05-01T12:34:56.789012Z`: UTC, microseconds, sortable as text."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventLog:
    """A JSON-lines file shared by every session of one server."""

    def __init__(self, path: str, writer: BackgroundWriter,
                 checkpoints: Checkpointer | None = None) -> None:
        self.path = path
        self._writer = writer
        # With a signing key: signed checkpoints as lines of the log (checkpoints.py).
        self._checkpoints = checkpoints
        self._fd: int | None = None
        self.healthy = True  # read from the loop; written by the thread (a plain bool)
        self.last_error: str | None = None
        self._prev: str | None = None  # SHA-256 of the last line in the file (thread only)
        # (st_dev, st_ino) of the open file; replaced whole, so any thread may read it.
        self._identity: tuple[int, int] | None = None
        # The line the next file starts with, going on with this server's chain (after a
        # loss, or a roll).
        self._first_line: dict[str, Any] | None = None

    def submit(self, record: Mapping[str, Any], *, sync: bool = False) -> None:
        """Queue one line (from the loop)."""
        self._writer.submit(self.append, dict(record), sync)

    def open(self) -> None:
        """Open (creating it 0600 and its directory 0700) for appending; in the thread."""
        if self._fd is not None:
            return
        try:
            parent = os.path.dirname(self.path)
            if parent:
                make_directory(parent)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                               FILE_MODE)
            stat = os.fstat(self._fd)
            self._identity = (stat.st_dev, stat.st_ino)
            tail = _continue_chain(self._fd)
            if self._checkpoints is not None:
                self._checkpoints.resume(scan_log(self._fd))
            if self._first_line is None:
                self._prev = tail
            else:  # after a loss or a roll the chain goes on from this server's last line
                self._write_line(self._first_line)
                self._first_line = None
                if self._checkpoints is not None:  # a rolled file's first line numbers it
                    self._checkpoints.resume(scan_log(self._fd))
            if self._checkpoints is not None and not self._checkpoints.started:
                self._write_checkpoint(CheckpointKind.START)  # this run's epoch begins
        except OSError as exc:
            self.close()
            self._failed(f"cannot open the audit event log {self.path}: {exc.strerror or exc}")
            return
        if not self.healthy:
            log.warning("Audit event log %s is writable again", self.path)
        self.healthy = True
        self.last_error = None

    def moved(self) -> str | None:
        """What became of the open file, if it is no longer the file at the path: "was
        deleted" or "was replaced by another file"; None while it is (or none is open).

        Reads only the path and the identity taken at open, never the descriptor: safe from
        any thread (the readiness probe, a session's pre-spawn check)."""
        identity = self._identity
        if identity is None:
            return None
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return "was deleted"
        except NotADirectoryError:
            return "was deleted"  # a file now stands where its directory was
        except OSError:
            return None  # cannot tell (a vanished volume): the write will say
        if (stat.st_dev, stat.st_ino) != identity:
            return "was replaced by another file"
        return None

    def check(self) -> None:
        """The check before each line, also run alone (in the writer thread): a loss found
        makes the log unhealthy until the next `open`."""
        if self._fd is None:
            return
        problem = self.moved()
        if problem is not None:
            self._lose(problem)

    def _lose(self, problem: str) -> None:
        """The open file is not the log any more: never write to it again (thread only)."""
        assert self._identity is not None
        message = f"the audit event log {self.path} {problem} while in use"
        self._first_line = {"event": "event-log-lost", "time": utc_iso(time.time()),
                             "path": self.path, "problem": problem,
                             "lost_device": self._identity[0], "lost_inode": self._identity[1]}
        self.close()
        self.healthy = False
        self.last_error = message
        log.error("Audit: %s: the lines in it are gone with it, and fail-closed sessions are "
                  "refused until a new file at the path takes the next line", message)

    def append(self, record: Mapping[str, Any], sync: bool = False) -> None:
        """Write one line; `sync` also fsyncs it (end lines). In the writer thread."""
        self.check()
        self.open()
        if self._fd is None:
            log.error("Audit event line lost (%s): %s", self.last_error,
                      json.dumps(record, ensure_ascii=True))
            return
        try:
            if self._write_line(record):
                self._write_checkpoint(CheckpointKind.PERIODIC)
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            self._failed(f"writing the audit event log {self.path} failed: "
                         f"{exc.strerror or exc}")
            log.error("Audit event line lost: %s", json.dumps(record, ensure_ascii=True))
            self.close()

    def _write_line(self, record: Mapping[str, Any]) -> bool:
        """One line, chained to the last; raises OSError (thread only). True when a
        checkpoint is due after it."""
        assert self._fd is not None
        line = {**record, "prev_sha256": self._prev}
        data = (json.dumps(line, ensure_ascii=True) + "\n").encode("ascii")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self._prev = hashlib.sha256(data).hexdigest()
        return self._checkpoints is not None and self._checkpoints.counted()

    def _write_checkpoint(self, kind: CheckpointKind) -> None:
        """A signed checkpoint of every line so far, as the next line; then published
        (the copy, the command). Raises OSError (thread only)."""
        assert self._checkpoints is not None
        note, checkpoint = self._checkpoints.make(kind, self._prev)
        self._write_line(checkpoint_record(note, checkpoint))
        self._checkpoints.publish(note, checkpoint)

    def checkpoint(self, kind: CheckpointKind = CheckpointKind.PERIODIC,
                   when_due: bool = True) -> None:
        """A checkpoint now (the timer's, when one is due; the final one at shutdown,
        fsynced). In the writer thread; a failure is logged like a lost line."""
        checkpoints = self._checkpoints
        if checkpoints is None or (when_due and not checkpoints.due()):
            return
        self.check()
        self.open()
        if self._fd is None:
            log.error("Audit checkpoint lost (%s)", self.last_error)
            return
        try:
            self._write_checkpoint(kind)
            if kind is CheckpointKind.FINAL:
                os.fsync(self._fd)
        except OSError as exc:
            self._failed(f"writing a checkpoint to the audit event log {self.path} failed: "
                         f"{exc.strerror or exc}")
            self.close()

    def roll(self) -> str | None:
        """Roll the log (retention.py decides when): its last line a checkpoint, then it is
        renamed to `rolled_name`, and the new file at the path starts with a `log-rolled`
        line chained to the old file's last line, then a checkpoint. In the writer thread;
        returns the rolled file's path, None when it could not be rolled (logged)."""
        self.check()
        self.open()
        if self._fd is None:
            return None
        now = self._checkpoints.clock() if self._checkpoints is not None else time.time()
        target = rolled_name(self.path, now)
        try:
            if self._checkpoints is not None:
                self._write_checkpoint(CheckpointKind.ROLL)
            os.fsync(self._fd)
            lines = scan_log(self._fd).lines
            self.close()
            os.rename(self.path, target)
        except OSError as exc:
            self.close()
            log.error("Audit: rolling the event log %s failed: %s", self.path,
                      exc.strerror or exc)
            return None
        self._first_line = rolled_record(target, lines, utc_iso(now))
        self.open()
        if self._fd is not None and self._checkpoints is not None:
            try:
                self._write_checkpoint(CheckpointKind.ROLL)
            except OSError as exc:
                self._failed(f"writing a checkpoint to the audit event log {self.path} "
                             f"failed: {exc.strerror or exc}")
                self.close()
        log.info("Audit: event log rolled: %s (%d lines) is now %s", self.path, lines, target)
        return target

    def close(self) -> None:
        self._identity = None
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    def _failed(self, message: str) -> None:  # the chain is re-read from the file on reopen
        self.healthy = False
        self.last_error = message
        log.error("%s", message)


TAIL_READ = 1024 * 1024  # the longest line the chain can resume from


def _continue_chain(fd: int) -> str | None:
    """The SHA-256 of the file's last line, ending a line cut short by a crash first."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    start = max(0, size - TAIL_READ)
    tail = os.pread(fd, size - start, start)
    if not tail.endswith(b"\n"):
        os.write(fd, b"\n")
        tail += b"\n"
    cut = tail.rfind(b"\n", 0, len(tail) - 1)
    return hashlib.sha256(tail[cut + 1:]).hexdigest()
