"""Readiness of the audit trail under `--audit-required`: can a session be recorded now?

Rules of this module: `AuditHealth` is the `HealthCheck` named "audit", offered only when
recording is required (otherwise a session whose recording fails still runs, so the server
can serve). It tries what a session would do, because permissions alone say nothing to
root and nothing about a read-only or vanished volume: it creates and removes a file in the
audit directory, and it asks the event log to reopen when its last write failed (so the
probe itself heals a log whose volume came back, even while no session reaches a server
that is not ready); it also notices an event log deleted or replaced since its last line,
a loss it heals the same way (a new file at the path). The file-system work runs
off the event loop, one probe at a time; a probe that hangs (a dead network volume) makes
the check miss readiness' deadline, and later checks wait for that same probe instead of
piling up threads.
"""

from __future__ import annotations

import asyncio
import os
import tempfile

from ..audit.naming import make_directory
from .audit_observer import AuditService

PROBE_PREFIX = ".gotty-py-ready-"


class AuditHealth:
    """Readiness check "audit" for one AuditService."""

    name = "audit"

    def __init__(self, service: AuditService) -> None:
        self._service = service
        self._probe: asyncio.Future[str | None] | None = None

    async def problem(self) -> str | None:
        service = self._service
        if not service.writer.running:
            return "the audit writer is not running"
        if service.directory is not None:
            if self._probe is None or self._probe.done():
                self._probe = asyncio.ensure_future(
                    asyncio.to_thread(_directory_problem, service.directory))
            # Shared by concurrent probes and kept when the readiness deadline gives up on
            # it, so a hanging volume holds one thread, not one per probe.
            found = await asyncio.shield(self._probe)
            if found is not None:
                return found
        event_log = service.event_log
        if event_log is not None and event_log.healthy and (
                await asyncio.to_thread(event_log.moved)) is not None:
            await service.writer.call(event_log.check)  # deleted or replaced: a loss
        if event_log is not None and not event_log.healthy:
            await service.writer.call(event_log.open)  # a retry, queued behind the backlog
            if not event_log.healthy:
                return f"event log unusable: {event_log.last_error}"
        return None


def _directory_problem(directory: str) -> str | None:
    """What stops a recording from being created in `directory`, or None (in a thread)."""
    try:
        make_directory(directory)
        fd, path = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=directory)
        os.close(fd)
        os.unlink(path)
        stats = os.statvfs(directory)
    except OSError as exc:
        return f"recording directory {directory} unusable: {exc.strerror or exc}"
    if stats.f_bavail == 0:
        return f"recording directory {directory}: no space left"
    return None
