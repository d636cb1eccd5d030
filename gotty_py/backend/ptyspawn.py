"""Starting a command on a new PTY without forking the server: `os.posix_spawn`.

Rules of this module: it only starts a process on a PTY and hands back the master and the
PID; it reads nothing, waits for nothing and reaps nothing (`ChildReaper` does). The child
is what ptyprocess's forked child was: a session leader (`setsid`) whose controlling
terminal is the PTY (opened by name after `setsid`, so the kernel makes it the controlling
TTY), on stdin, stdout and stderr, at the size given, `argv[0]` resolved on the server's
PATH as ptyprocess resolves it, the signal mask empty and SIGPIPE and SIGXFSZ back at their
defaults (as `subprocess` restores them; the interpreter ignores both), and no descriptor but
those three. Python opens every descriptor non-inheritable (PEP 446), but those the server
inherited (a socket-activation listener, a supervisor's pipe) are inheritable, and
ptyprocess's child closed them all: so before the first spawn every descriptor above 2 is
made non-inheritable, once per process (`seal_inherited_descriptors`).

Why: ptyprocess forks the whole server, whose page tables grow with its memory (tens of
MiB with hundreds of sessions), once per session; glibc's `posix_spawn` is a `vfork`-like
clone that copies none of it: a few milliseconds less per session start, more under load.
`os.posix_spawn` cannot change the child's directory (Python 3.11 has no `chdir` action),
so a `--cwd` start keeps the fork (`spawn_forked`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ptyprocess import PtyProcess
from ptyprocess.util import which

# Signals the interpreter ignores at start-up that an ordinary program expects at default.
_RESTORED = (signal.SIGPIPE, signal.SIGXFSZ)


@dataclass(frozen=True)
class PtyChild:
    """A started child: its PID and the PTY master (non-blocking), closed by `close`."""

    pid: int
    fd: int
    close: Callable[[], None]


_sealed: list[bool] = []  # set once the inherited descriptors are non-inheritable


def seal_inherited_descriptors() -> None:
    """Make every descriptor above stderr non-inheritable, once per process: those opened
    later by Python are so already, those inherited from the server's parent are not."""
    if _sealed:
        return
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):  # the listing's own descriptor, now closed
                os.set_inheritable(fd, False)
    _sealed.append(True)


def resolve(command: str) -> str:
    """`command` as ptyprocess runs it: found on the server's PATH, FileNotFoundError if not."""
    found = which(command)
    if found is None:
        raise FileNotFoundError(f"The command was not found or was not executable: {command}.")
    return str(found)


def set_size(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def spawn(argv: Sequence[str], env: Mapping[str, str], rows: int, columns: int) -> PtyChild:
    """Start `argv` on a new PTY of `rows` x `columns` with `posix_spawn`.

    OSError (errno set: EMFILE, ENOENT, EACCES...) when the PTY cannot be opened or the
    program cannot be executed; nothing is left open then."""
    path = resolve(argv[0])
    seal_inherited_descriptors()
    master, slave = os.openpty()
    try:
        set_size(master, rows, columns)
        pid = os.posix_spawn(
            path, [path, *argv[1:]], dict(env), setsid=True, setsigmask=(),
            setsigdef=_RESTORED,
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.ttyname(slave), os.O_RDWR, 0),
                          (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)])
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)  # the child has its own; the master reads EIO once it is gone
    os.set_blocking(master, False)
    return PtyChild(pid=pid, fd=master, close=lambda: os.close(master))


def spawn_forked(argv: Sequence[str], env: Mapping[str, str], rows: int, columns: int,
                 cwd: str) -> PtyChild:
    """ptyprocess's fork, for a start in another directory (`--cwd`)."""
    process = PtyProcess.spawn(list(argv), env=dict(env), dimensions=(rows, columns),
                               cwd=cwd)
    process.closed = True  # ptyprocess would close (and sleep) from __del__; we close it
    os.set_blocking(process.fd, False)

    def close() -> None:
        with contextlib.suppress(OSError):
            process.fileobj.close()

    return PtyChild(pid=process.pid, fd=process.fd, close=close)
