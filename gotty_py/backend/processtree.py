"""Finding and ending every process a session started, and nothing else.

Rules of this module: a process belongs to a session when it lives below the gotty-py
process (true for every orphan, since the server is a child subreaper) AND there is
evidence it came from the session: it descends from the session's command, shares the
command's terminal session (SID), or carries the session's marker variable in its
environment (which survives `setsid`, `nohup` and double forks). Signals go through pidfds
opened after re-checking the start time, so a recycled PID is never signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PROC = "/proc"
KILL_WAIT = 5.0  # seconds to wait for SIGKILLed processes to be gone
MAX_ROUNDS = 5  # rescans, for processes forked while the session was being ended


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    pgid: int
    sid: int
    starttime: int


def read_proc(pid: int) -> ProcInfo | None:
    """Parse /proc/PID/stat (the command name may hold spaces and parentheses)."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 20 or fields[0] == b"Z":
        return None  # gone, or a zombie waiting for the reaper: nothing left to signal
    return ProcInfo(pid, int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]))


def snapshot() -> dict[int, ProcInfo]:
    procs: dict[int, ProcInfo] = {}
    for name in os.listdir(PROC):
        if name.isdigit():
            info = read_proc(int(name))
            if info is not None:
                procs[info.pid] = info
    return procs


def descendants(root: int, procs: dict[int, ProcInfo]) -> set[int]:
    children: dict[int, list[int]] = {}
    for info in procs.values():
        children.setdefault(info.ppid, []).append(info.pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def has_marker(pid: int, marker: bytes) -> bool:
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as handle:
            return marker in handle.read().split(b"\0")
    except OSError:
        return False


def session_processes(leader: int, marker: str, *, leader_held: bool,
                      server_pid: int | None = None) -> list[ProcInfo]:
    """The living processes of the session whose command is `leader`.

    Descent from the leader and its SID count as evidence only while the leader is not yet
    reaped (`leader_held`): until then its PID cannot name another process. The marker
    variable counts always.
    """
    procs = snapshot()
    ours = descendants(os.getpid() if server_pid is None else server_pid, procs)
    tree = descendants(leader, procs) | {leader} if leader_held else set()
    marker_bytes = marker.encode()

    def belongs(pid: int) -> bool:
        if leader_held and (pid in tree or procs[pid].sid == leader):
            return True
        return has_marker(pid, marker_bytes)

    return [procs[pid] for pid in sorted(ours) if belongs(pid)]


class _Target:
    """One process held by a pidfd; signalling it can never reach a recycled PID."""

    def __init__(self, info: ProcInfo, pidfd: int) -> None:
        self.info = info
        self.pidfd = pidfd

    @classmethod
    def open(cls, info: ProcInfo) -> _Target | None:
        try:
            pidfd = os.pidfd_open(info.pid)
        except OSError:
            return None
        again = read_proc(info.pid)
        if again is None or again.starttime != info.starttime:
            os.close(pidfd)  # it exited, or the PID now names another process
            return None
        return cls(info, pidfd)

    def signal(self, signum: int) -> None:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.pidfd, signum)

    def close(self) -> None:
        os.close(self.pidfd)


async def _wait_gone(targets: Iterable[_Target], timeout: float) -> list[_Target]:
    """Wait until every target has exited (its pidfd turns readable); return survivors."""
    loop = asyncio.get_running_loop()
    pending: dict[int, asyncio.Future[None]] = {}

    def exited(pidfd: int, future: asyncio.Future[None]) -> None:
        loop.remove_reader(pidfd)
        if not future.done():
            future.set_result(None)

    for target in targets:
        future: asyncio.Future[None] = loop.create_future()
        loop.add_reader(target.pidfd, exited, target.pidfd, future)
        pending[target.pidfd] = future
    if pending:
        await asyncio.wait(pending.values(), timeout=timeout)
    survivors = [t for t in targets if not pending[t.pidfd].done()]
    for target in survivors:
        loop.remove_reader(target.pidfd)
    return survivors


@dataclass
class TreeEnd:
    """What ending a session's processes took, for logs and the audit trail."""

    signalled: int = 0
    killed: int = 0


async def end_session_processes(leader: int, marker: str, close_signal: int,
                                close_timeout: float, leader_held: Callable[[], bool]
                                ) -> TreeEnd:
    """Close signal to every process of the session, SIGKILL to those left after the timeout.

    Rescans catch processes forked meanwhile; those get SIGKILL at once.
    """
    result = TreeEnd()
    first = True
    for _ in range(MAX_ROUNDS):
        found = session_processes(leader, marker, leader_held=leader_held())
        opened = [t for t in map(_Target.open, found) if t]
        if not opened:
            break
        targets = opened
        try:
            if first:
                for target in targets:
                    target.signal(close_signal)
                result.signalled += len(targets)
                targets = await _wait_gone(targets, close_timeout)
                first = False
            for target in targets:
                target.signal(signal.SIGKILL)
            result.killed += len(targets)
            await _wait_gone(targets, KILL_WAIT)
        finally:
            for target in opened:
                target.close()
    return result
