"""A command running under a PTY on this machine: GoTTY's `backend/localcommand`.

Rules of this module: `LocalCommandBackend` (the `Backend`) owns this backend's options and
the server's environment; each `LocalCommand` (the `Slave`) owns one PTY master and its
child process and nothing else. It never blocks the event loop: the master is non-blocking
and read through the loop's reader callbacks in large chunks, input is queued and written
as the PTY accepts it, the exit status comes from the server's `ChildReaper`, and ending
the session ends every process it started (`processtree`), through pidfds. The command is
started with `posix_spawn` (`ptyspawn`), not by forking the server; ptyprocess forks only
for a `--cwd` start, and its `close()`/`terminate()`/`wait()` (which sleep or block) are
never called.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import termios
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ptyprocess import PtyProcess

from ..facts import TERMINAL_TYPE
from .base import CommandUnusable, SlaveInfo, StartFailed, StartRequest
from .environment import INSTANCE_VARIABLE, session_environment, session_marker
from .instance import Instance
from .processtree import KILL_WAIT, ProcessScanner, TreeEnd, end_session_processes
from .programs import ProgramNotUsable, find_program
from .ptyspawn import PtyChild, set_size, spawn, spawn_forked
from .reaper import get_reaper

log = logging.getLogger("gotty_py.backend")

READ_CHUNK = 64 * 1024
# Queued input above which the session stops reading the client until the PTY catches up.
INPUT_HIGH_WATER_MARK = 1024 * 1024
INPUT_LOW_WATER_MARK = 64 * 1024
EXIT_AFTER_EOF_GRACE = 1.0  # seconds to wait for the exit status once the PTY reports EOF
DEFAULT_CLOSE_TIMEOUT = 10.0


@dataclass(frozen=True)
class LocalCommandOptions:
    """What only this backend needs (GoTTY's `localcommand.Options`)."""

    close_signal: int = int(signal.SIGHUP)  # sent to every process of the session at its end
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT  # seconds from the close signal to SIGKILL
    cwd: str | None = None  # the command's working directory (--cwd); None: the server's

    @classmethod
    def from_gotty(cls, close_signal: int, close_timeout: int,
                   cwd: str = "") -> LocalCommandOptions:
        """GoTTY's rule: a negative close timeout means the built-in 10 seconds. An empty
        `cwd` is the server's own directory; `~/` is the server's home."""
        return cls(close_signal=close_signal,
                   close_timeout=DEFAULT_CLOSE_TIMEOUT if close_timeout < 0
                   else float(close_timeout),
                   cwd=os.path.expanduser(cwd) if cwd else None)


class LocalCommandBackend:
    """Starts each session's command on a PTY of this machine (GoTTY's local command)."""

    name = "local command"

    def __init__(self, options: LocalCommandOptions, environ: Mapping[str, str],
                 instance: Instance | None = None) -> None:
        self.options = options
        # Every session process is marked with it, for the watchdog and the start-up sweep.
        self.instance = Instance.current() if instance is None else instance
        self.environ = dict(environ)  # the server's own; GOTTY_* is scrubbed per session
        self.scanner = ProcessScanner()  # one /proc scan for all the sessions ending at once

    @property
    def close_time(self) -> float:
        """The close signal's grace, then the wait for the SIGKILLed processes."""
        return self.options.close_timeout + KILL_WAIT

    def check_command(self, command: Sequence[str]) -> None:
        """The program must be an executable file now, found as exec will find it, and the
        working directory a directory this server may enter: otherwise every session would
        fail at its start, long after the operator has gone."""
        cwd = self.options.cwd
        if cwd is not None:
            if not os.path.isdir(cwd):
                reason = "does not exist" if not os.path.exists(cwd) else "is not a directory"
                raise CommandUnusable(f"cwd (--cwd) {cwd!r} {reason}")
            if not os.access(cwd, os.X_OK):
                raise CommandUnusable(f"cwd (--cwd) {cwd!r}: permission denied")
        try:
            find_program(command[0], self.environ)
        except ProgramNotUsable as exc:
            raise CommandUnusable(f"command {exc}") from None

    async def start(self, request: StartRequest) -> LocalCommand:
        facts = request.facts
        columns, rows = facts.size
        env = session_environment(self.environ, facts, {"TERM": TERMINAL_TYPE, **request.env})
        env[INSTANCE_VARIABLE] = self.instance.word
        return LocalCommand.spawn(facts.argv, env=env, columns=columns, rows=rows,
                                  options=self.options, marker=session_marker(facts),
                                  scanner=self.scanner)


def _check_exec_arguments(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Refuse what exec cannot take, before forking.

    ptyprocess's forked child survives anything but an OSError from exec: a NUL byte or an
    unencodable character would leave a copy of the server running on the PTY. Client
    values (`?arg=`, token claims, headers) can carry both.
    """
    for index, word in enumerate(argv):
        if "\0" in word:
            raise StartFailed(f"argument {index} contains a NUL byte")
        try:
            os.fsencode(word)
        except UnicodeEncodeError:
            raise StartFailed(f"argument {index} is not valid text") from None
    for key, value in env.items():
        if "\0" in key or "\0" in value or "=" in key or not key:
            raise StartFailed(f"environment variable {key!r} cannot be passed")
        try:
            os.fsencode(key), os.fsencode(value)
        except UnicodeEncodeError:
            raise StartFailed(f"environment variable {key!r} is not valid text") from None


def _out_of_descriptors(exc: OSError) -> bool:
    """Whether a spawn failed for lack of file descriptors (EMFILE, ENFILE).

    `pty.fork` replaces the error of `os.openpty` with its own 'out of pty devices' (no
    errno, no context), so then the process tries to open one descriptor itself: called
    before the failed spawn's pipe is closed, that fails exactly when the spawn ran out."""
    if exc.errno is not None:
        return exc.errno in (errno.EMFILE, errno.ENFILE)
    try:
        probe = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as failure:
        return failure.errno in (errno.EMFILE, errno.ENFILE)
    os.close(probe)
    return False


def _close_exec_error_pipe(exc: BaseException) -> None:
    """Close the pipe ptyprocess 0.7.0 opened before a PTY it then failed to open.

    `PtyProcess.spawn` makes its exec-error pipe first and does not close it when `pty.fork`
    raises (EMFILE, ENFILE, EAGAIN): two descriptors per failed spawn, lost until the
    server runs out. Its frame, still held by the traceback, names them; they are open
    exactly when the fork never returned (no `pid` yet: later failures close them
    themselves). Nothing is opened to find them, so this works when no descriptor is left.
    `test_failed_spawns_leave_no_descriptor_behind` guards it."""
    spawn_code = PtyProcess.spawn.__func__.__code__
    traceback = exc.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code is spawn_code and "pid" not in frame.f_locals:
            for name in ("exec_err_pipe_read", "exec_err_pipe_write"):
                fd = frame.f_locals.get(name)
                if isinstance(fd, int):
                    with contextlib.suppress(OSError):
                        os.close(fd)
        traceback = traceback.tb_next


class LocalCommand:
    """One child process on its own PTY; a `Slave`."""

    def __init__(
        self,
        process: PtyChild,
        argv: Sequence[str],
        *,
        options: LocalCommandOptions,
        marker: str,
        scanner: ProcessScanner,
    ) -> None:
        self._process = process
        self.pid: int = process.pid
        self.argv = list(argv)
        self.fd: int = process.fd
        self._options = options
        self.marker = marker
        self._scanner = scanner
        self.tree_end: TreeEnd | None = None
        self._loop = asyncio.get_running_loop()
        self._exit: asyncio.Future[int] = get_reaper().watch(self.pid)
        self._exit.add_done_callback(lambda _: self._wake_reader())
        self._readable: asyncio.Future[None] | None = None
        # The PTY stays registered for reading while the session keeps asking for output, so
        # a keystroke's echo costs no epoll_ctl; only a wake-up that finds nobody waiting
        # (the session holds its reads: backpressure) unregisters it.
        self._reader_registered = False
        self._input = bytearray()
        self._input_drained = asyncio.Event()
        self._input_drained.set()
        self._writer_registered = False
        self._fd_closed = False

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        columns: int,
        rows: int,
        options: LocalCommandOptions,
        marker: str,
        scanner: ProcessScanner,
    ) -> LocalCommand:
        """Start `argv` on a new PTY of the given size (never 0x0, unlike GoTTY).

        `marker` is a `NAME=value` pair present in `env`: it marks every process the
        command starts, so that all of them can be found and ended with the session.
        """
        _check_exec_arguments(argv, env)
        try:
            if options.cwd is None:
                process = spawn(argv, env, rows, columns)
            else:
                process = spawn_forked(argv, env, rows, columns, options.cwd)
        except FileNotFoundError as exc:
            raise StartFailed(f"{argv[0]}: command not found or not executable") from exc
        except OSError as exc:
            exhausted = _out_of_descriptors(exc)
            _close_exec_error_pipe(exc)
            if exhausted:
                raise StartFailed("too many open files") from None
            raise StartFailed(f"{argv[0]}: {exc.strerror or exc}") from exc
        return cls(process, argv, options=options, marker=marker, scanner=scanner)

    # --- Slave interface -----------------------------------------------------------------

    @property
    def exit_status(self) -> int | None:
        return self._exit.result() if self._exit.done() else None

    def describe(self) -> SlaveInfo:
        return SlaveInfo(summary=f"pid {self.pid}",
                         variables={"command": self.argv[0], "argv": self.argv[1:],
                                    "pid": self.pid})

    async def read(self) -> bytes:
        """Next output chunk; b"" when the PTY is closed or the child is gone and drained."""
        while not self._fd_closed:
            try:
                data = os.read(self.fd, READ_CHUNK)
            except BlockingIOError:
                if self._exit.done():
                    return b""  # the child is gone and nothing is left to read
                await self._wait_readable()
                continue
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                data = b""
            if data:
                return data
            # EIO: every slave descriptor is closed. The exit status follows at once when
            # the child is exiting; a child that merely closed its terminal is ended later.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._exit), EXIT_AFTER_EOF_GRACE)
            return b""
        return b""

    def write(self, data: bytes) -> None:
        if self._fd_closed or self._exit.done():
            return
        self._input += data
        self._flush_input()

    @property
    def input_backlogged(self) -> bool:
        return len(self._input) > INPUT_HIGH_WATER_MARK

    async def drain_input(self) -> None:
        """Wait until queued input is down to the low-water mark (or the PTY is gone)."""
        await self._input_drained.wait()

    def resize(self, columns: int, rows: int) -> None:
        if not self._fd_closed:
            set_size(self.fd, rows, columns)

    def input_hidden(self) -> bool | None:
        """The PTY's line discipline asked now (the master shares the slave's termios):
        line mode with ECHO off is a password prompt."""
        if self._fd_closed:
            return None
        try:
            lflag = termios.tcgetattr(self.fd)[3]
        except (OSError, termios.error):
            return None
        return bool(lflag & termios.ICANON) and not lflag & termios.ECHO

    async def close(self) -> None:
        """End the command and everything it started, then release the PTY.

        The close signal goes to every process of the session, SIGKILL to those still there
        after the close timeout; a session whose command already exited still loses its
        background jobs, `nohup`s and daemons.
        """
        if self.tree_end is None:
            self.tree_end = await end_session_processes(
                self._scanner, self.pid, self.marker, self._options.close_signal,
                self._options.close_timeout,
                leader_held=lambda: not self._exit.done())
            if self.tree_end.signalled:
                log.info("Ended %d process(es) of the session of pid %d (%d needed SIGKILL)",
                         self.tree_end.signalled, self.pid, self.tree_end.killed)
        if not self._exit.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._exit), KILL_WAIT)
        self._close_fd()

    # --- internals -----------------------------------------------------------------------

    def _wait_readable(self) -> asyncio.Future[None]:
        future = self._loop.create_future()
        self._readable = future
        if not self._reader_registered:
            self._loop.add_reader(self.fd, self._wake_reader)
            self._reader_registered = True
        return future

    def _wake_reader(self) -> None:
        future, self._readable = self._readable, None
        if future is None:
            self._stop_reading()  # readable, but the session is not reading now
        elif not future.done():
            future.set_result(None)

    def _stop_reading(self) -> None:
        if self._reader_registered:
            self._reader_registered = False
            if not self._fd_closed:
                self._loop.remove_reader(self.fd)

    def _flush_input(self) -> None:
        while self._input:
            try:
                written = os.write(self.fd, self._input)
            except BlockingIOError:
                break
            except OSError:
                self._input.clear()  # the PTY is gone; the session is ending anyway
                self._input_drained.set()
                break
            del self._input[:written]
        if len(self._input) > INPUT_HIGH_WATER_MARK:
            self._input_drained.clear()
        elif len(self._input) <= INPUT_LOW_WATER_MARK:
            self._input_drained.set()
        if self._input and not self._writer_registered:
            self._loop.add_writer(self.fd, self._flush_input)
            self._writer_registered = True
        elif not self._input and self._writer_registered:
            self._loop.remove_writer(self.fd)
            self._writer_registered = False

    def _close_fd(self) -> None:
        if self._fd_closed:
            return
        self._wake_reader()
        self._stop_reading()
        if self._writer_registered:
            self._loop.remove_writer(self.fd)
            self._writer_registered = False
        self._fd_closed = True
        self._input_drained.set()
        with contextlib.suppress(OSError):
            self._process.close()
