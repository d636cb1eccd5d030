"""The retention passes of one server (`--audit-retention`): remove, log what went, roll.

Rules of this module: a pass runs at start-up and every PASS_INTERVAL seconds on the event
loop; its file-system work (the scan, the unlinks, the look at the event log) runs in a
thread, and the roll in the audit writer thread that owns the event log. What is removed
is written to the event log (`retention` lines, fsynced) before the pass ends. The
recordings of sessions still running are given by the audit service and never removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Collection
from typing import Any

from ..audit.checkpoints import parse_time
from ..audit.events import EventLog, utc_iso
from ..audit.retention import (
    PASS_INTERVAL,
    RetentionPolicy,
    choose,
    remove,
    scan,
)
from ..audit.writer import BackgroundWriter

log = logging.getLogger("gotty_py.audit")

REMOVED_PER_LINE = 100  # files named in one `retention` line (lines stay far below 1 MiB)


class RetentionService:
    """Runs the passes; `protected()` gives the paths no pass may remove right now."""

    def __init__(self, policy: RetentionPolicy, text: str, audit_dir: str | None,
                 event_log: EventLog | None, writer: BackgroundWriter,
                 protected: Callable[[], Collection[str]]) -> None:
        self.policy = policy
        self.text = text
        self.audit_dir = audit_dir
        self.event_log = event_log
        self.writer = writer
        self.protected = protected
        self.passes = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.run_pass()
            except Exception:
                log.exception("Audit: retention pass failed")
            await asyncio.sleep(PASS_INTERVAL)

    async def run_pass(self) -> None:
        started = time.time()
        protected = frozenset(self.protected())
        log_path = self.event_log.path if self.event_log is not None else None
        candidates = await asyncio.to_thread(scan, self.audit_dir, log_path, protected,
                                             started)
        removals = choose(self.policy, candidates, started)
        if removals:
            done = await asyncio.to_thread(remove, removals, self.audit_dir)
            removed = [r for r, error in done if error is None]
            failed = [(r, error) for r, error in done if error is not None]
            log.info("Audit retention (%s): removed %d file(s), %d bytes%s", self.text,
                     len(removed), sum(r.candidate.size for r in removed),
                     f"; {len(failed)} could not be removed" if failed else "")
            for start in range(0, len(done), REMOVED_PER_LINE):
                self._log_removed(done[start:start + REMOVED_PER_LINE])
        if self.event_log is not None:
            size, age = await asyncio.to_thread(_log_size_and_age, self.event_log.path, started)
            if self.policy.roll_due(size, age):
                await self.writer.call(self.event_log.roll)
        self.passes += 1

    def _log_removed(self, done: list[Any]) -> None:
        if self.event_log is None:
            return
        self.event_log.submit({
            "event": "retention",
            "time": utc_iso(time.time()),
            "policy": self.text,
            "removed": [{"path": r.candidate.path, "kind": r.candidate.kind,
                         "bytes": r.candidate.size, "modified": utc_iso(r.candidate.mtime),
                         "reason": r.reason} for r, error in done if error is None],
            "failed": [{"path": r.candidate.path, "error": error}
                       for r, error in done if error is not None],
        }, sync=True)


def _log_size_and_age(path: str, now: float) -> tuple[int, float | None]:
    """The event log's size and the age of its first line (None: unknown)."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            first = handle.readline(1 << 20)
    except OSError:
        return 0, None
    try:
        record = json.loads(first)
        return size, now - parse_time(record["time"])
    except (ValueError, KeyError, TypeError):
        return size, None
