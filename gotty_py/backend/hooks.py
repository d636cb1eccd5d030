"""Running an operator's hook command with a deadline, without blocking the event loop.

Rules of this module: it starts one command (argv, no shell) in a process group of its own,
collects a bounded amount of its output through the loop's reader callbacks, gets its exit
status from the server's `ChildReaper`, and kills the whole group when the deadline passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .reaper import get_reaper

OUTPUT_KEPT = 4096  # bytes of the hook's output kept for the log
PIPE_STDIN_MAX = 4096  # POSIX's smallest PIPE_BUF: an empty pipe always takes this much


@dataclass(frozen=True)
class HookResult:
    argv: list[str]
    exit_code: int | None  # None when it could not start
    timed_out: bool
    duration: float
    output: str
    error: str = ""
    interrupted: bool = False  # killed before its timeout: the server's drain deadline passed

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.interrupted

    def describe(self) -> str:
        if self.error:
            return f"failed to start: {self.error}"
        if self.interrupted:
            return (f"killed at shutdown after {self.duration:.1f} s: the drain timeout "
                    "passed")
        if self.timed_out:
            return f"timed out after {self.duration:.1f} s and was killed"
        return f"exit status {self.exit_code} after {self.duration:.1f} s"


async def run_hook(argv: Sequence[str], env: Mapping[str, str], timeout: float,
                   interrupt: asyncio.Event | None = None, stdin: bytes = b"") -> HookResult:
    """Run the hook until it exits, `timeout` passes or `interrupt` is set (then its group is
    killed); never raises for the hook's own failures. `stdin` (at most PIPE_STDIN_MAX
    bytes: it fits the empty pipe's buffer, so writing it cannot block) is its input."""
    assert len(stdin) <= PIPE_STDIN_MAX
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(env),
            start_new_session=True)
    except OSError as exc:
        # Name the file exec was asked for, as an absolute path: a relative one would say
        # nothing about where the server looked.
        program = os.path.abspath(argv[0]) if argv and "/" in argv[0] else argv[0]
        return HookResult(list(argv), None, False, 0.0, "",
                          f"{program}: {exc.strerror or exc}")
    exit_future = get_reaper().watch(process.pid)
    if process.stdin is not None:
        with contextlib.suppress(OSError):  # a hook that exited at once does not read it
            os.set_blocking(process.stdin.fileno(), False)
            os.write(process.stdin.fileno(), stdin)
        process.stdin.close()
    assert process.stdout is not None
    output = _OutputCollector(process.stdout.fileno())
    waits: list[asyncio.Future[Any]] = [exit_future]
    interrupted = asyncio.ensure_future((interrupt or asyncio.Event()).wait())
    waits.append(interrupted)
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        interrupted.cancel()
    timed_out = not exit_future.done()
    if timed_out:  # the group leader is unreaped: its PGID is still ours
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await exit_future
    process.returncode = exit_future.result()  # reaped by the reaper, not by Popen
    await output.finish()
    process.stdout.close()
    cut_short = timed_out and interrupt is not None and interrupt.is_set()
    return HookResult(list(argv), exit_future.result(), timed_out and not cut_short,
                      time.monotonic() - started, output.text(), interrupted=cut_short)


class _OutputCollector:
    """Keeps the first bytes of a pipe and discards the rest, so the hook never blocks."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._kept = bytearray()
        self._done = asyncio.get_running_loop().create_future()
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._kept += data[: max(0, OUTPUT_KEPT - len(self._kept))]
            return
        asyncio.get_running_loop().remove_reader(self._fd)
        if not self._done.done():
            self._done.set_result(None)

    async def finish(self) -> None:
        """Wait for end of file (every writer gone), or stop listening after a moment."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._done), 1.0)
        if not self._done.done():
            asyncio.get_running_loop().remove_reader(self._fd)

    def text(self) -> str:
        return self._kept.decode("utf-8", "replace").strip()
