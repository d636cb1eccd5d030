"""Drive a command (kubectl) under a real PTY from tests, with deadlines everywhere.

``kubectl exec -it`` insists on a terminal on its stdin, so tests run it under ptyprocess
and read its output with ``select`` plus a deadline rather than sleeping.
"""

from __future__ import annotations

import errno
import os
import re
import select
import signal
import time
from collections.abc import Callable, Sequence

from ptyprocess import PtyProcess

from tests.gotty import pid_alive

__all__ = ["PtyCommand", "pid_alive", "wait_for"]


def wait_for(condition: Callable[[], object], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``condition`` until it is truthy or ``timeout`` passes; return the last verdict.

    A polling helper with a deadline: tests wait for states, never for fixed durations.
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class PtyCommand:
    """A child process on a PTY whose output is collected for :meth:`expect`."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        dimensions: tuple[int, int] = (24, 80),
    ) -> None:
        self.argv = list(argv)
        self.proc = PtyProcess.spawn(self.argv, env=env, cwd=cwd, dimensions=dimensions)
        self.proc.delayafterclose = 0
        self.output = bytearray()
        self._eof = False

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    @property
    def text(self) -> str:
        """Everything read so far, decoded leniently (for messages and assertions)."""
        return self.output.decode("utf-8", "replace")

    def _read_some(self, timeout: float) -> bool:
        """Read what is available within ``timeout``; False on timeout or EOF."""
        if self._eof or not select.select([self.proc.fd], [], [], max(0.0, timeout))[0]:
            return False
        try:
            data = os.read(self.proc.fd, 65536)
        except OSError as exc:  # EIO: the slave side is closed (the command exited)
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self._eof = True
            return False
        self.output += data
        return True

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until the output matches the regex ``pattern``; fail with the output."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while (match := regex.search(self.text)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (not self._read_some(remaining) and self._eof):
                raise AssertionError(
                    f"{pattern!r} not seen within {timeout}s (eof={self._eof}) "
                    f"from {self.argv}; output so far:\n{self.text}"
                )
        return match

    def read_to_eof(self, timeout: float = 10.0) -> str:
        """Collect output until the command's side of the PTY closes (bounded)."""
        deadline = time.monotonic() + timeout
        while not self._eof and time.monotonic() < deadline:
            self._read_some(deadline - time.monotonic())
        return self.text

    def send(self, text: str) -> None:
        """Type ``text`` (use ``\\r`` for Enter, as a terminal does)."""
        self.proc.write(text.encode())

    def set_size(self, rows: int, cols: int) -> None:
        """Resize the PTY; the kernel sends SIGWINCH to the command (kubectl forwards it)."""
        self.proc.setwinsize(rows, cols)

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Wait (bounded) for the exit; the code, or 128+N if killed by signal N."""
        if not wait_for(lambda: not self.proc.isalive(), timeout):
            raise AssertionError(f"{self.argv} still running after {timeout}s:\n{self.text}")
        if self.proc.signalstatus is not None:
            return 128 + int(self.proc.signalstatus)
        return int(self.proc.exitstatus)

    def kill(self) -> None:
        """SIGKILL by PID (no grace: this is how a crashed client looks to the server)."""
        if self.proc.isalive():
            os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill if still running, reap, close the PTY master.  Safe to call twice."""
        if self.proc.closed:
            return
        self.kill()
        self.wait_exit(timeout=10.0)
        self.proc.close()
