"""Finding and ending every process a session started, and nothing else.

Rules of this module: a process belongs to a session when it lives below the gotty-py
process (true for every orphan, since the server is a child subreaper) AND there is
evidence it came from the session: it descends from the session's command, shares the
command's terminal session (SID), or carries the session's marker variable in its
environment (which survives `setsid`, `nohup` and double forks). Signals go through pidfds
opened after re-checking the start time, so a recycled PID is never signalled.

Finding costs one pass over /proc for all the sessions that ask at the same time, never
one per session: `ProcessScanner` coalesces concurrent questions into one snapshot, taken
in a thread of its own so that the event loop never reads /proc; each process's stat is
read once per snapshot and its environment at most once, and only when no asking session's
tree or SID already explains it. A mass disconnect of N sessions thus costs about N reads,
not N squared, and the loop keeps serving the sessions that stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

PROC = "/proc"
KILL_WAIT = 5.0  # seconds to wait for SIGKILLed processes to be gone
MAX_ROUNDS = 5  # rescans, for processes forked while the session was being ended
ANSWER_SLICE = 32  # sessions woken per loop turn when a scan's answers come back


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


def _children_index(procs: dict[int, ProcInfo]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for info in procs.values():
        children.setdefault(info.ppid, []).append(info.pid)
    return children


def _below(root: int, children: dict[int, list[int]]) -> set[int]:
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def descendants(root: int, procs: dict[int, ProcInfo]) -> set[int]:
    return _below(root, _children_index(procs))


def read_environ(pid: int) -> list[bytes]:
    """The entries of /proc/PID/environ; empty when it is gone or not ours to read."""
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def has_marker(pid: int, marker: bytes) -> bool:
    return marker in read_environ(pid)


@dataclass(frozen=True)
class Query:
    """One session's question: which living processes are mine?"""

    leader: int
    marker: bytes
    leader_held: bool  # the leader is not yet reaped: its PID, tree and SID are its own


def scan(queries: Sequence[Query], server_pid: int) -> list[list[ProcInfo]]:
    """Answer every query from ONE snapshot of /proc (blocking: run it in a thread).

    A process below the server belongs to a query when it is in the held leader's tree or
    SID, or carries the query's marker. The environment is read once per process, and not
    at all for a process some query's tree or SID already explains: that session ends it.
    """
    procs = snapshot()
    children = _children_index(procs)
    ours = _below(server_pid, children)
    by_sid: dict[int, list[int]] = {}
    for pid in ours:
        by_sid.setdefault(procs[pid].sid, []).append(pid)
    found: list[set[int]] = [set() for _ in queries]
    explained: set[int] = set()
    by_marker: dict[bytes, list[int]] = {}
    for index, query in enumerate(queries):
        by_marker.setdefault(query.marker, []).append(index)
        if query.leader_held:
            members = (_below(query.leader, children) | {query.leader}
                       | set(by_sid.get(query.leader, ()))) & ours
            found[index] |= members
            explained |= members
    for pid in ours - explained:
        for entry in read_environ(pid):
            for index in by_marker.get(entry, ()):
                found[index].add(pid)
    return [[procs[pid] for pid in sorted(members)] for members in found]


def session_processes(leader: int, marker: str, *, leader_held: bool,
                      server_pid: int | None = None) -> list[ProcInfo]:
    """The living processes of the session whose command is `leader` (one blocking scan).

    Descent from the leader and its SID count as evidence only while the leader is not yet
    reaped (`leader_held`): until then its PID cannot name another process. The marker
    variable counts always.
    """
    query = Query(leader, marker.encode(), leader_held)
    return scan([query], os.getpid() if server_pid is None else server_pid)[0]


class ProcessScanner:
    """Coalesces the session ends that ask at the same time into one scan, off the loop.

    Questions asked while a scan runs wait for the next one, which answers them all; so
    however many sessions end at once, the scans in flight are at most one.
    """

    def __init__(self, server_pid: int | None = None) -> None:
        self._server_pid = server_pid
        self._pending: list[tuple[Query, asyncio.Future[list[ProcInfo]]]] = []
        self._running = False
        self._executor: ThreadPoolExecutor | None = None
        self.scans = 0  # snapshots taken, for tests and the bench
        self.queries = 0

    async def session_processes(self, leader: int, marker: str,
                                leader_held: Callable[[], bool]) -> list[ProcInfo]:
        """As `session_processes`, answered together with every other concurrent question."""
        while True:
            held = leader_held()
            found = await self._ask(Query(leader, marker.encode(), held))
            if not held or leader_held():
                return found
            # The leader was reaped during the scan: its PID may already name another
            # process, so its tree and SID are no evidence any more. Ask again.

    def _ask(self, query: Query) -> asyncio.Future[list[ProcInfo]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[ProcInfo]] = loop.create_future()
        self._pending.append((query, future))
        self.queries += 1
        if not self._running:
            self._running = True
            loop.call_soon(self._start)  # questions asked in this loop turn join the batch
        return future

    def _start(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            self._running = False
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="gotty-proc-scan")
        loop = asyncio.get_running_loop()
        server_pid = os.getpid() if self._server_pid is None else self._server_pid
        self.scans += 1
        done = loop.run_in_executor(self._executor, scan, [q for q, _ in batch], server_pid)

        def answer(result: asyncio.Future[list[list[ProcInfo]]]) -> None:
            error = result.exception()
            answers = None if error is not None else result.result()
            self._answer(batch, answers, error, 0)
            self._start()  # the questions that came meanwhile, or idle again

        done.add_done_callback(answer)

    def _answer(self, batch: list[tuple[Query, asyncio.Future[list[ProcInfo]]]],
                answers: list[list[ProcInfo]] | None, error: BaseException | None,
                first: int) -> None:
        """Wake ANSWER_SLICE askers per loop turn: each goes on to open and signal its
        processes, and a thousand of them at once would hold the loop for that long."""
        for index in range(first, min(first + ANSWER_SLICE, len(batch))):
            future = batch[index][1]
            if future.done():
                continue
            if answers is None:
                future.set_exception(error or RuntimeError("process scan failed"))
            else:
                future.set_result(answers[index])
        if first + ANSWER_SLICE < len(batch):
            asyncio.get_running_loop().call_soon(self._answer, batch, answers, error,
                                                 first + ANSWER_SLICE)


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


async def end_session_processes(scanner: ProcessScanner, leader: int, marker: str,
                                close_signal: int, close_timeout: float,
                                leader_held: Callable[[], bool]) -> TreeEnd:
    """Close signal to every process of the session, SIGKILL to those left after the timeout.

    Rescans catch processes forked meanwhile; those get SIGKILL at once.
    """
    result = TreeEnd()
    first = True
    for _ in range(MAX_ROUNDS):
        found = await scanner.session_processes(leader, marker, leader_held)
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
