"""Ending the processes a server instance left behind, when no server can end them.

Rules of this module: this is the one place that looks at processes OUTSIDE the server's
own tree, because after a crash the sessions' orphans are re-parented to PID 1 and only
their `GOTTY_INSTANCE` marker still says where they came from. It therefore considers only
processes of this account (the /proc entry's owner is our real uid: the kernel would let us
signal no other anyway, and a root server never ends another user's process on a forged
marker) that carry an instance marker, and only for an instance that is not alive. It is
synchronous (the watchdog has no event loop; the start-up sweep runs before the server
listens) and signals only through pidfds, opened after re-checking the start time.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .environment import INSTANCE_VARIABLE
from .instance import Instance
from .processtree import KILL_WAIT, MAX_ROUNDS, PROC, ProcInfo, _Target, read_environ, snapshot

_PREFIX = f"{INSTANCE_VARIABLE}=".encode()


def marked_processes(select_instance: Callable[[Instance], bool]) -> dict[Instance, list[ProcInfo]]:
    """Processes of this account whose marker names an instance `select_instance` accepts."""
    uid = os.getuid()
    me = os.getpid()
    found: dict[Instance, list[ProcInfo]] = {}
    for pid, info in snapshot().items():
        if pid == me:
            continue
        try:
            if os.stat(f"{PROC}/{pid}").st_uid != uid:
                continue
        except OSError:
            continue
        for entry in read_environ(pid):
            if entry.startswith(_PREFIX):
                instance = Instance.parse(entry[len(_PREFIX):].decode("ascii", "replace"))
                if instance is not None and select_instance(instance):
                    found.setdefault(instance, []).append(info)
                break
    return found


def _wait_gone(targets: list[_Target], timeout: float) -> list[_Target]:
    """Poll the pidfds until every target exited or `timeout` passed; the survivors."""
    poller = select.poll()
    waiting = {target.pidfd: target for target in targets}
    for pidfd in waiting:
        poller.register(pidfd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while waiting:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        for pidfd, _ in poller.poll(remaining * 1000):
            poller.unregister(pidfd)
            waiting.pop(pidfd, None)
    return list(waiting.values())


@dataclass
class SweepResult:
    signalled: int = 0  # got the close signal (the first round)
    killed: int = 0  # needed SIGKILL (late in the first round, or found by a rescan)
    ended: set[tuple[int, int]] = field(default_factory=set)  # (pid, start time) of each


def end_processes(find: Callable[[], list[ProcInfo]], close_signal: int,
                  close_timeout: float) -> SweepResult:
    """The close signal to what `find` returns, SIGKILL after `close_timeout`; rescans
    catch what was forked meanwhile (SIGKILL at once), as for a session's end."""
    result = SweepResult()
    first = True
    for _ in range(MAX_ROUNDS):
        opened = [t for t in map(_Target.open, find()) if t]
        if not opened:
            break
        result.ended.update((t.info.pid, t.info.starttime) for t in opened)
        try:
            targets = opened
            if first:
                for target in targets:
                    target.signal(close_signal)
                result.signalled += len(targets)
                targets = _wait_gone(targets, close_timeout)
                first = False
            for target in targets:
                target.signal(signal.SIGKILL)
            result.killed += len(targets)
            _wait_gone(targets, KILL_WAIT)
        finally:
            for target in opened:
                with contextlib.suppress(OSError):
                    target.close()
    return result


def end_instance(instance: Instance, close_signal: int, close_timeout: float) -> SweepResult:
    """End every process carrying `instance`'s marker (the watchdog, its server gone)."""
    def find() -> list[ProcInfo]:
        return marked_processes(lambda seen: seen == instance).get(instance, [])
    return end_processes(find, close_signal, close_timeout)


def sweep_dead_instances(own: Instance, close_signal: int,
                         close_timeout: float) -> tuple[set[Instance], SweepResult]:
    """At start-up: end the processes of every instance whose server is dead, all in one
    round of signals; never those of this instance or of a live other one."""
    seen: set[Instance] = set()

    def dead(instance: Instance) -> bool:
        return instance != own and not instance.alive()

    def find() -> list[ProcInfo]:
        found = marked_processes(dead)
        seen.update(found)
        return [info for infos in found.values() for info in infos]

    return seen, end_processes(find, close_signal, close_timeout)
