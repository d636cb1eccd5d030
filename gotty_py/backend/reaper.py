"""Reaping every child of the server, including orphans it adopts as a subreaper.

Rules of this module: it is the only place that calls `waitpid`, and it never blocks. The
server marks itself a child subreaper (Linux), so descendants that a session's command
orphans (`nohup`, `setsid`, double forks) are re-parented to gotty-py instead of init: they
stay findable and killable, and when they die this reaper collects them so that no zombie
accumulates. A spawner registers its child with `watch()` to receive the exit status.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
from collections import OrderedDict

log = logging.getLogger("gotty_py.backend")

PR_SET_CHILD_SUBREAPER = 36
_UNCLAIMED_KEPT = 256  # exit statuses of unregistered children, kept for a late watch()


def become_subreaper() -> bool:
    """Ask Linux to re-parent orphaned descendants to this process; False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


class ChildReaper:
    """Collects exit statuses on SIGCHLD and hands them to whoever watches the PID."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiters: dict[int, asyncio.Future[int]] = {}
        self._unclaimed: OrderedDict[int, int] = OrderedDict()
        loop.add_signal_handler(signal.SIGCHLD, self.reap)
        self.reap()

    def watch(self, pid: int) -> asyncio.Future[int]:
        """A future for the exit code of child `pid` (negative for a signal, like Popen)."""
        future = self._waiters.get(pid)
        if future is None:
            future = self._loop.create_future()
            if pid in self._unclaimed:
                future.set_result(self._unclaimed.pop(pid))
            else:
                self._waiters[pid] = future
        return future

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            future = self._waiters.pop(pid, None)
            if future is not None:
                if not future.done():
                    future.set_result(code)
                continue
            self._unclaimed[pid] = code
            while len(self._unclaimed) > _UNCLAIMED_KEPT:
                self._unclaimed.popitem(last=False)

    def close(self) -> None:
        self._loop.remove_signal_handler(signal.SIGCHLD)


_reapers: dict[asyncio.AbstractEventLoop, ChildReaper] = {}


def get_reaper() -> ChildReaper:
    """The reaper of the running loop, created on first use."""
    loop = asyncio.get_running_loop()
    reaper = _reapers.get(loop)
    if reaper is None:
        reaper = _reapers[loop] = ChildReaper(loop)
    return reaper
