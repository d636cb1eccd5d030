"""Processes exec'd "into pods": they run on this machine, under a PTY or on pipes.

The point of this module is to behave like a container runtime when the client goes away:

* With ``tty=true`` the runtime's shim keeps the PTY master open for as long as the exec'd
  process lives, so the shell gets neither SIGHUP nor EOF and keeps running.  Here the
  master fd stays open after :meth:`SimProcess.detach`, and its output keeps being drained
  into a bounded tail buffer so the process never blocks on a full PTY.
* Without a TTY only stdin is closed; stdout and stderr keep being drained.

All I/O is non-blocking and driven by the Tornado IOLoop (``add_handler``); the exit of
the exec'd process is noticed through a pidfd, which also rules out PID reuse.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import fcntl
import json
import logging
import os
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ptyprocess import PtyProcess
from tornado.ioloop import IOLoop

from . import procfs

log = logging.getLogger("k8s_sim")

#: Environment variable that marks every process of one exec, children included.
EXEC_MARKER_VAR = "K8S_SIM_EXEC"
#: How much of a process's most recent output is kept (always, attached or not).
OUTPUT_TAIL_LIMIT = 64 * 1024
_READ_CHUNK = 64 * 1024
#: After the leader exits, how long to wait for the last output before ending the stream.
_EXIT_GRACE_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


class ExecSink(Protocol):
    """Where an attached exec stream wants the process's output and exit."""

    def on_output(self, channel: int, data: bytes) -> None:
        """Deliver output read from the process on ``channel`` (1 stdout, 2 stderr)."""

    def on_exit(self, exit_code: int) -> None:
        """The process exited (all its output was delivered before)."""


@dataclass(frozen=True)
class ExecSpec:
    """What to run and "where" (the pod and container are labels plus a working dir)."""

    namespace: str
    pod: str
    container: str
    command: tuple[str, ...]
    tty: bool
    stdin: bool
    stdout: bool
    stderr: bool
    cwd: Path
    env: dict[str, str]
    exec_id: str


@dataclass(frozen=True)
class ProcessInfo:
    """A snapshot of one exec'd process, for tests (also served as JSON)."""

    pid: int
    namespace: str
    pod: str
    container: str
    command: list[str]
    tty: bool
    alive: bool
    exit_code: int | None
    attached: bool
    winsize: list[int] | None
    started_at: float
    pids: list[int]
    output_bytes: int
    output_tail: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (dataclass fields as they are)."""
        return dataclasses.asdict(self)


def _pdeathsig_preexec() -> Callable[[], None]:
    """Backstop: the leader gets SIGKILL if the simulator's I/O thread dies abruptly.

    The libc lookup happens here, in the parent, so the forked child only calls it.
    """
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return preexec


def _exit_code(wait_status: int) -> int:
    """Exit code as a container runtime reports it: 128+N when killed by signal N."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


class SimProcess:
    """One exec'd process and its I/O; lives on the simulator's IOLoop thread."""

    def __init__(
        self,
        spec: ExecSpec,
        pid: int,
        *,
        stdin_fd: int | None,
        outputs: dict[int, int],
        close_fd: Callable[[int], None],
        owner: Any,
    ) -> None:
        self.spec = spec
        self.pid = pid
        self.started_at = time.time()
        self.exit_code: int | None = None
        self.winsize: tuple[int, int] | None = None
        self.output_bytes = 0
        self._owner = owner  # the PtyProcess / Popen; kept so nothing closes our fds
        self._close_fd = close_fd
        self._stdin_fd = stdin_fd
        self._outputs = dict(outputs)  # fd -> channel
        self._open_fds = set(outputs) | ({stdin_fd} if stdin_fd is not None else set())
        self._pending = bytearray()
        self._close_after_flush = False
        self._events: dict[int, int] = {}
        self._sink: ExecSink | None = None
        self._finished = False
        self._tail = bytearray()
        self._loop = IOLoop.current()
        for fd in self._open_fds:
            os.set_blocking(fd, False)
        for fd in self._outputs:
            self._watch(fd, IOLoop.READ, on=True)
        self._pidfd: int | None = os.pidfd_open(pid)
        self._loop.add_handler(self._pidfd, self._on_pidfd, IOLoop.READ)

    # -- public API ------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """True until the leader has been reaped."""
        return self.exit_code is None

    @property
    def attached(self) -> bool:
        """True while an exec stream is connected."""
        return self._sink is not None

    def attach(self, sink: ExecSink) -> None:
        """Connect an exec stream (only at start: real runtimes have no re-attach)."""
        self._sink = sink

    def detach(self) -> None:
        """The stream dropped: stop forwarding, but leave the process running.

        With a TTY nothing else happens (the master stays open, as the shim keeps it);
        without one, stdin is closed, as the runtime does.
        """
        if self._sink is None:
            return
        self._sink = None
        self._pending.clear()
        log.info("exec %s (pid %d) detached; process keeps running", self.spec.exec_id, self.pid)
        if not self.spec.tty:
            self._close_stdin_now()

    def write_stdin(self, data: bytes) -> None:
        """Queue input for the process; written as the fd accepts it."""
        if self._stdin_fd is None or not data:
            return
        self._pending += data
        self._flush_stdin()

    def close_stdin(self) -> None:
        """v5 CLOSE of stdin: EOF on a pipe; on a TTY nothing (a half-close is no EOF)."""
        if self.spec.tty or self._stdin_fd is None:
            return
        if self._pending:
            self._close_after_flush = True  # _flush_stdin closes once the queue is written
        else:
            self._close_stdin_now()

    def resize(self, cols: int, rows: int) -> None:
        """Apply a window size to the PTY (the kernel sends SIGWINCH to the job)."""
        if not self.spec.tty or self._stdin_fd is None or self._stdin_fd not in self._open_fds:
            return
        winsize = struct.pack("HHHH", rows, cols, 0, 0)
        fcntl.ioctl(self._stdin_fd, termios.TIOCSWINSZ, winsize)
        self.winsize = (rows, cols)

    def kill(self) -> None:
        """SIGKILL the exec's process group, session and marked processes (its own only)."""
        if self.alive:  # unreaped, so its PGID cannot have been reused
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)  # pgid == pid: the child ran setsid()
        marker = (EXEC_MARKER_VAR, self.spec.exec_id)
        procfs.kill_exec_tree(self.pid, marker, leader_unreaped=self.alive)

    def reap_blocking(self) -> None:
        """Last resort at shutdown when the pidfd never fired: wait for the leader."""
        if self.alive:
            _, status = os.waitpid(self.pid, 0)
            self._record_exit(status)

    def release(self) -> None:
        """Close every fd we hold (only after the process is dead: it would hang up)."""
        for fd in list(self._events):
            self._unwatch_all(fd)
        for fd in list(self._open_fds):
            self._close(fd)
        if self._pidfd is not None:
            self._loop.remove_handler(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def info(self) -> ProcessInfo:
        """A snapshot, including every live process of this exec found in /proc."""
        marker_pids = procfs.marked_processes(EXEC_MARKER_VAR, self.spec.exec_id)
        session = procfs.session_members(self.pid) if self.alive else []
        return ProcessInfo(
            pid=self.pid,
            namespace=self.spec.namespace,
            pod=self.spec.pod,
            container=self.spec.container,
            command=list(self.spec.command),
            tty=self.spec.tty,
            alive=self.alive,
            exit_code=self.exit_code,
            attached=self.attached,
            winsize=list(self.winsize) if self.winsize else None,
            started_at=self.started_at,
            pids=sorted(set(marker_pids) | set(session)),
            output_bytes=self.output_bytes,
            output_tail=self._tail[-4096:].decode("utf-8", "replace"),
        )

    # -- fd bookkeeping --------------------------------------------------------------

    def _watch(self, fd: int, event: int, *, on: bool) -> None:
        old = self._events.get(fd, 0)
        new = old | event if on else old & ~event
        if new == old:
            return
        if not old:
            self._loop.add_handler(fd, self._on_fd, new)
        elif not new:
            self._loop.remove_handler(fd)
        else:
            self._loop.update_handler(fd, new)
        if new:
            self._events[fd] = new
        else:
            self._events.pop(fd, None)

    def _unwatch_all(self, fd: int) -> None:
        if self._events.pop(fd, 0):
            self._loop.remove_handler(fd)

    def _close(self, fd: int) -> None:
        self._unwatch_all(fd)
        if fd in self._open_fds:
            self._open_fds.discard(fd)
            self._close_fd(fd)

    # -- I/O -------------------------------------------------------------------------

    def _on_fd(self, fd: int, events: int) -> None:
        if events & (IOLoop.READ | IOLoop.ERROR) and fd in self._outputs:
            self._read_once(fd)
        if events & IOLoop.WRITE and fd == self._stdin_fd:
            self._flush_stdin()

    def _read_once(self, fd: int) -> bool:
        """Read one chunk; False when nothing more is available right now."""
        try:
            data = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno != errno.EIO:  # EIO: the PTY has no slave holders left
                raise
            data = b""
        if not data:
            self._output_ended(fd)
            return False
        self._record_output(self._outputs[fd], data)
        return True

    def _record_output(self, channel: int, data: bytes) -> None:
        self.output_bytes += len(data)
        self._tail += data
        if len(self._tail) > OUTPUT_TAIL_LIMIT:
            del self._tail[:-OUTPUT_TAIL_LIMIT]
        if self._sink is not None:
            self._sink.on_output(channel, data)

    def _output_ended(self, fd: int) -> None:
        """EOF on a pipe or EIO on the PTY master: this output is done."""
        self._outputs.pop(fd, None)
        if fd == self._stdin_fd and self.alive:
            # The PTY master doubles as stdin; closing it while the leader lives would
            # hang up the terminal, which a runtime never does.  Just stop reading.
            self._watch(fd, IOLoop.READ, on=False)
        else:
            self._close(fd)
        if not self.alive and not self._outputs:
            self._finish()

    def _flush_stdin(self) -> None:
        fd = self._stdin_fd
        if fd is None or fd not in self._open_fds:
            self._pending.clear()
            return
        try:
            while self._pending:
                written = os.write(fd, self._pending)
                del self._pending[:written]
        except BlockingIOError:
            pass
        except OSError as exc:  # EIO/EPIPE: the reader is gone
            log.debug("stdin write failed for pid %d: %s", self.pid, exc)
            self._pending.clear()
        self._watch(fd, IOLoop.WRITE, on=bool(self._pending))
        if not self._pending and self._close_after_flush:
            self._close_stdin_now()

    def _close_stdin_now(self) -> None:
        fd = self._stdin_fd
        if fd is None or self.spec.tty:
            return
        self._stdin_fd = None
        self._close(fd)

    # -- exit ------------------------------------------------------------------------

    def _on_pidfd(self, fd: int, events: int) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # someone else reaped it (os.wait() elsewhere in-process)
            log.warning("pid %d was reaped by someone else; exit code unknown", self.pid)
            pid, status = self.pid, 255 << 8
        if pid == 0:
            return
        self._record_exit(status)

    def _record_exit(self, wait_status: int) -> None:
        """The leader is reaped: forward its last output, then end the stream."""
        self.exit_code = _exit_code(wait_status)
        self._mark_owner_reaped(wait_status)
        if self._pidfd is not None:
            self._loop.remove_handler(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        log.info("exec %s (pid %d) exited with %d", self.spec.exec_id, self.pid, self.exit_code)
        for out_fd in list(self._outputs):
            while out_fd in self._outputs and self._read_once(out_fd):
                pass
        if self._outputs:  # e.g. a background job still holds the PTY: don't wait for it
            self._loop.call_later(_EXIT_GRACE_SECONDS, self._finish)
        else:
            self._finish()

    def _mark_owner_reaped(self, wait_status: int) -> None:
        """Tell the PtyProcess/Popen we reaped it, so it never waits for or signals it."""
        owner = self._owner
        if isinstance(owner, PtyProcess):
            owner.terminated = True
            owner.status = wait_status
        elif isinstance(owner, subprocess.Popen):
            owner.returncode = self.exit_code

    def _finish(self) -> None:
        """End the attached stream once, after the last output was forwarded."""
        if self._finished or self.exit_code is None:
            return
        self._finished = True
        if not self.spec.tty:
            self._close_stdin_now()
        elif self._stdin_fd is not None and self._stdin_fd not in self._outputs:
            self._close(self._stdin_fd)  # leader gone and no slave holders: release master
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.on_exit(self.exit_code)


# -- spawning ------------------------------------------------------------------------


def _spawn_pty(spec: ExecSpec) -> SimProcess:
    """Run under a PTY via ptyprocess (which also does setsid and sets the ctty)."""
    proc = PtyProcess.spawn(
        list(spec.command),
        cwd=str(spec.cwd),
        env=spec.env,
        dimensions=(24, 80),
        preexec_fn=_pdeathsig_preexec(),
    )
    proc.delayafterclose = 0

    def close_master(fd: int) -> None:
        proc.fileobj.close()  # close through the file object, so its finaliser can't
        proc.closed = True  # close a reused fd number later

    return SimProcess(
        spec, proc.pid, stdin_fd=proc.fd, outputs={proc.fd: STDOUT},
        close_fd=close_master, owner=proc,
    )


def _spawn_pipes(spec: ExecSpec) -> SimProcess:
    """Run on pipes in a new session; fds are ours (raw), Popen is only the launcher."""
    parent_fds: dict[str, int] = {}
    child_fds: list[int] = []
    try:
        stdin: int = subprocess.DEVNULL
        if spec.stdin:
            stdin, parent_fds["stdin"] = os.pipe()
            child_fds.append(stdin)
        streams: dict[str, int] = {}
        for name, wanted in (("stdout", spec.stdout), ("stderr", spec.stderr)):
            streams[name] = subprocess.DEVNULL
            if wanted:
                parent_fds[name], streams[name] = os.pipe()
                child_fds.append(streams[name])
        popen = subprocess.Popen(
            list(spec.command), stdin=stdin, stdout=streams["stdout"],
            stderr=streams["stderr"], cwd=spec.cwd, env=spec.env,
            start_new_session=True, preexec_fn=_pdeathsig_preexec(),
        )
    except BaseException:
        for fd in parent_fds.values():
            os.close(fd)
        raise
    finally:
        for fd in child_fds:
            os.close(fd)
    outputs = {fd: {"stdout": STDOUT, "stderr": STDERR}[name]
               for name, fd in parent_fds.items() if name != "stdin"}
    return SimProcess(
        spec, popen.pid, stdin_fd=parent_fds.get("stdin"), outputs=outputs,
        close_fd=os.close, owner=popen,
    )


def spawn(spec: ExecSpec) -> SimProcess:
    """Start ``spec.command``; raises OSError (e.g. FileNotFoundError) if it cannot run.

    Must be called on the IOLoop thread: the process registers its fds there.
    """
    process = _spawn_pty(spec) if spec.tty else _spawn_pipes(spec)
    log.info(
        "exec %s: pid %d in %s/%s/%s: %s", spec.exec_id, process.pid, spec.namespace,
        spec.pod, spec.container, json.dumps(list(spec.command)),
    )
    return process
