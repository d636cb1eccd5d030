"""The event log: one JSON line when a session starts and one when it ends, appended off-loop.

Rules of this module: each line is a whole JSON object written with O_APPEND in one
write, so lines never interleave and a crash leaves at most the last one cut short;
`append` runs in the writer thread, `submit` queues from the event loop. After a failure
the log is reopened on the next line, and `healthy` tells the loop whether the last
attempt worked (fail-closed sessions are refused while it is not).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from .naming import DIR_MODE, FILE_MODE
from .writer import BackgroundWriter

log = logging.getLogger("gotty_py.audit")


def utc_iso(timestamp: float) -> str:
    """`2024-05-01T12:34:56.789012Z`: UTC, microseconds, sortable as text."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventLog:
    """A JSON-lines file shared by every session of one server."""

    def __init__(self, path: str, writer: BackgroundWriter) -> None:
        self.path = path
        self._writer = writer
        self._fd: int | None = None
        self.healthy = True  # read from the loop; written by the thread (a plain bool)
        self.last_error: str | None = None

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
                os.makedirs(parent, mode=DIR_MODE, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                               FILE_MODE)
        except OSError as exc:
            self._failed(f"cannot open the audit event log {self.path}: {exc.strerror or exc}")
            return
        if not self.healthy:
            log.warning("Audit event log %s is writable again", self.path)
        self.healthy = True
        self.last_error = None

    def append(self, record: Mapping[str, Any], sync: bool = False) -> None:
        """Write one line; `sync` also fsyncs it (end lines). In the writer thread."""
        self.open()
        if self._fd is None:
            log.error("Audit event line lost (%s): %s", self.last_error,
                      json.dumps(record, ensure_ascii=True))
            return
        data = (json.dumps(record, ensure_ascii=True) + "\n").encode("ascii")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            self._failed(f"writing the audit event log {self.path} failed: "
                         f"{exc.strerror or exc}")
            log.error("Audit event line lost: %s", data.decode("ascii").rstrip())
            self.close()

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    def _failed(self, message: str) -> None:
        self.healthy = False
        self.last_error = message
        log.error("%s", message)
