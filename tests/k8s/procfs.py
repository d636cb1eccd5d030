"""Find and signal processes through /proc, safely, by PID.

The simulator must kill every process it started and nothing else.  A process exec'd into a
"pod" may fork children that leave its process group (an interactive shell puts each job in
its own group) or even its session, so three nets are used: the leader's process group, its
session, and an environment marker (``K8S_SIM_EXEC``) that children inherit, a stand-in for
the container's cgroup.  Each candidate is opened as a pidfd, re-checked, and signalled
through the pidfd, so a PID reused by an unrelated process in between is never hit.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/PID/stat`` the simulator needs."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int

    @property
    def alive(self) -> bool:
        """False for zombies (exited, not yet reaped) and dead processes."""
        return self.state not in ("Z", "X")


def read_stat(pid: int) -> ProcStat | None:
    """Parse ``/proc/PID/stat``; None if the process is gone or unreadable."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ")".
    fields = raw[raw.rfind(")") + 2 :].split()
    return ProcStat(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[3]))


def all_pids() -> list[int]:
    """Every PID currently listed in /proc."""
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def has_env(pid: int, name: str, value: str, *, prefix: bool = False) -> bool:
    """True if the process's initial environment holds ``name=value`` (or ``value...``)."""
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:  # other users' processes, or gone
        return False
    entry = f"{name}={value}".encode()
    entries = environ.split(b"\0")
    return any(e.startswith(entry) for e in entries) if prefix else entry in entries


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session id is ``sid``."""
    members = []
    for pid in all_pids():
        st = read_stat(pid)
        if st is not None and st.session == sid and st.alive:
            members.append(pid)
    return members


def marked_processes(name: str, value: str, *, prefix: bool = False) -> list[int]:
    """Live processes carrying the environment marker ``name=value`` (or a prefix of it)."""
    marked = []
    for pid in all_pids():
        st = read_stat(pid)
        if st is not None and st.alive and has_env(pid, name, value, prefix=prefix):
            marked.append(pid)
    return marked


def kill_marked(name: str, value: str, *, prefix: bool = False) -> int:
    """SIGKILL every live process carrying the marker; the count signalled.

    The launcher's last resort after stopping a simulator child: whatever it left behind
    (it was SIGKILLed, say) still carries its instance's marker.
    """
    return sum(
        signal_if(pid, lambda p: has_env(p, name, value, prefix=prefix), signal.SIGKILL)
        for pid in marked_processes(name, value, prefix=prefix)
    )


def signal_if(pid: int, still_ours: Callable[[int], bool], sig: int) -> bool:
    """Signal ``pid`` through a pidfd if ``still_ours(pid)`` holds after opening it.

    Opening the pidfd first pins the process; the check afterwards guarantees that the
    pinned process is the one we meant (a reused PID would fail the check or, if it passes,
    is ours too).  Returns True if a signal was sent.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return False
    try:
        if not still_ours(pid):
            return False
        signal.pidfd_send_signal(pidfd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(pidfd)


def kill_exec_tree(
    leader: int, marker: tuple[str, str], *, leader_unreaped: bool, sig: int = signal.SIGKILL
) -> int:
    """Signal every process of one exec: its session and everything with its marker.

    The session (whose id is the leader's PID) is only trusted while the leader is
    unreaped: after that the number could name a new, unrelated session.  The leader's
    own process group is handled by the caller with ``killpg`` under the same condition.
    Returns the count of processes signalled here.
    """
    name, value = marker
    count = 0
    if leader_unreaped:
        for pid in session_members(leader):
            count += signal_if(pid, lambda p: _in_session(p, leader), sig)
    for pid in marked_processes(name, value):
        count += signal_if(pid, lambda p: has_env(p, name, value), sig)
    return count


def _in_session(pid: int, sid: int) -> bool:
    st = read_stat(pid)
    return st is not None and st.session == sid
