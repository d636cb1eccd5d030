"""The watchdog: a small process that outlives its server and ends the server's sessions.

Rules of this module: the server starts it once (`Watchdog.start`) in a session and process
group of its own, so that no signal to the server's group (a terminal's ^C, a kill of the
group) reaches it, with the read end of a pipe as its standard input. The server holds the
only write end (close-on-exec: no session process inherits it). The pipe reaching EOF
means the server is gone, however it died (SIGKILL, the OOM killer, a crash): the watchdog
then ends every process carrying this instance's `GOTTY_INSTANCE` marker (`sweep.py`:
close signal, SIGKILL after the close timeout, through pidfds) and exits. A server that
ends normally has ended its sessions itself: it writes `exit` first, and the watchdog
exits without a sweep. Run as `python -m gotty_py.backend.watchdog INSTANCE SIGNAL TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping

from .instance import Instance
from .sweep import end_instance

DISMISS = b"exit\n"


class Watchdog:
    """The server's end of the pipe to its watchdog process."""

    def __init__(self, process: subprocess.Popen[bytes], pipe: int) -> None:
        self.process = process
        self._pipe = pipe

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(cls, instance: Instance, close_signal: int, close_timeout: float,
              environ: Mapping[str, str]) -> Watchdog:
        """Start the watchdog of `instance`; raises OSError when it cannot be started."""
        read_end, write_end = os.pipe()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "gotty_py.backend.watchdog", instance.word,
                 str(close_signal), f"{close_timeout:g}"],
                stdin=read_end, start_new_session=True, close_fds=True,
                env={**environ, "PYTHONUNBUFFERED": "1"})
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        return cls(process, write_end)

    def dismiss(self) -> None:
        """The server ended its sessions itself: the watchdog exits without a sweep."""
        if self._pipe < 0:
            return
        with contextlib.suppress(OSError):
            os.write(self._pipe, DISMISS)
        os.close(self._pipe)
        self._pipe = -1


def _wait_for_server() -> bool:
    """Block until the server writes `exit` (True) or its end of the pipe closes (False)."""
    received = b""
    while True:
        try:
            chunk = os.read(0, 64)
        except InterruptedError:
            continue
        if not chunk:
            return received.startswith(DISMISS)
        received = (received + chunk)[:64]
        if received.startswith(DISMISS):
            return True


def main(argv: list[str]) -> int:
    instance = Instance.parse(argv[0]) if argv else None
    if instance is None or len(argv) != 3:
        print("usage: python -m gotty_py.backend.watchdog INSTANCE SIGNAL TIMEOUT",
              file=sys.stderr)
        return 2
    close_signal, close_timeout = int(argv[1]), float(argv[2])
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        # Only the pipe decides; a stray signal must not leave the sessions unguarded.
        signal.signal(signum, signal.SIG_IGN)
    if _wait_for_server():
        return 0
    result = end_instance(instance, close_signal, close_timeout)
    print(f"Watchdog: the server (pid {instance.pid}) is gone; ended {len(result.ended)} "
          f"process(es) of its sessions ({result.killed} needed SIGKILL)", file=sys.stderr,
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
