"""`python -m tests.socket_activation FD ARGS...`: run gotty-py as systemd would activate it.

The listening socket the test made arrives as descriptor FD (subprocess `pass_fds`); this
moves it to descriptor 3 (SD_LISTEN_FDS_START), sets `LISTEN_FDS=1` and `LISTEN_PID` to
this process, which `exec` keeps, and becomes `python -m gotty_py ARGS...`.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    fd = int(sys.argv[1])
    if fd != 3:
        os.dup2(fd, 3, inheritable=True)
        os.close(fd)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.execv(sys.executable, [sys.executable, "-m", "gotty_py", *sys.argv[2:]])


if __name__ == "__main__":
    main()
