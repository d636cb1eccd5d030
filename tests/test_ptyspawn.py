"""`backend/ptyspawn.py`: the child `posix_spawn` starts is what ptyprocess's fork made.

Real PTYs and real processes: each child reports on itself (its session, controlling
terminal, size, signal mask and dispositions, open descriptors) and the test reads the
report from the master. Each check fails against a spawn that skipped the matching step.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from gotty_py.backend import ptyspawn
from gotty_py.backend.ptyspawn import PtyChild, spawn
from tests.gotty import ROOT

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def read_all(child: PtyChild, timeout: float = 10.0) -> str:
    """Everything the child writes until its side of the PTY closes (EIO on Linux)."""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while time.monotonic() < deadline:
        select.select([child.fd], [], [], max(0.0, deadline - time.monotonic()))
        try:
            chunk = os.read(child.fd, 65536)
        except BlockingIOError:
            continue
        except OSError:
            break  # EIO: every holder of the slave side is gone
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


@pytest.fixture
def children() -> Iterator[list[PtyChild]]:
    started: list[PtyChild] = []
    yield started
    for child in started:
        child.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child.pid, 0)


def report(children: list[PtyChild], code: str, *, rows: int = 24, columns: int = 80) -> str:
    child = spawn([sys.executable, "-c", code], ENV, rows, columns)
    children.append(child)
    return read_all(child)


def test_the_child_leads_its_own_session_on_the_pty(children: list[PtyChild]) -> None:
    out = report(children, "import os; print(os.getsid(0) == os.getpid(), os.isatty(0), "
                           "os.tcgetpgrp(0) == os.getpgrp(), os.ttyname(0) == os.ttyname(2))")
    # tcgetpgrp(0) answers only for the caller's controlling terminal.
    assert out.split() == ["True", "True", "True", "True"]


def test_the_pty_has_the_size_asked_for(children: list[PtyChild]) -> None:
    out = report(children, "import os; print(*os.get_terminal_size(0))", rows=7, columns=91)
    assert out.split() == ["91", "7"]


def test_signal_mask_empty_and_sigpipe_sigxfsz_at_default(children: list[PtyChild]) -> None:
    """Read by grep (not Python, which ignores both signals itself at start-up): the mask
    and the ignored set as a program exec'd on the PTY finds them."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        child = spawn(["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"], ENV, 24, 80)
        children.append(child)
        out = read_all(child)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    masks = {line.split(":")[0]: int(line.split()[1], 16) for line in out.splitlines()}
    assert masks["SigBlk"] == 0
    assert masks["SigIgn"] & (1 << (signal.SIGPIPE - 1)) == 0
    assert masks["SigIgn"] & (1 << (signal.SIGXFSZ - 1)) == 0


def test_only_the_three_standard_descriptors_are_open(children: list[PtyChild]) -> None:
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)  # as a descriptor the server inherited would be
    ptyspawn._sealed.clear()  # the seal runs before the next spawn, as at a server's first
    try:
        out = report(children, "import os; print(sorted(int(fd) for fd in "
                               "os.listdir('/proc/self/fd')))")
    finally:
        os.close(read_end)
        os.close(write_end)
    # 0, 1, 2 and the listing's own descriptor (3), nothing inherited.
    assert out.strip() == "[0, 1, 2, 3]"


# Counted in a fresh interpreter: a pytest-xdist worker's own threads (Playwright's, the
# servers' output pumps) open and close descriptors while a test runs, and did once
# between the two listings.
_FAILED_SPAWN = """
import os, sys
from gotty_py.backend.ptyspawn import spawn
before = sorted(os.listdir("/proc/self/fd"))
try:
    spawn([sys.argv[1]], {"PATH": os.environ["PATH"]}, 24, 80)
except OSError as exc:
    print(type(exc).__name__, exc)
else:
    print("started")
after = sorted(os.listdir("/proc/self/fd"))
print("descriptors", "unchanged" if after == before else f"{before} -> {after}")
"""


def failed_spawn(program: str) -> list[str]:
    """A spawn of `program` that must fail, in a fresh interpreter: what it raised, and
    whether the interpreter's descriptors were the same after it."""
    result = subprocess.run([sys.executable, "-c", _FAILED_SPAWN, program], cwd=ROOT,
                            capture_output=True, text=True, timeout=30, check=True)
    return result.stdout.splitlines()


def test_a_missing_program_leaves_no_descriptor_open() -> None:
    raised, descriptors = failed_spawn("no-such-program-here")
    assert raised.startswith("FileNotFoundError") and "no-such-program-here" in raised
    assert descriptors == "descriptors unchanged"


def test_a_program_that_cannot_be_executed_leaves_no_descriptor_open() -> None:
    raised, descriptors = failed_spawn("/proc/self/status")  # a file, not executable
    assert not raised.startswith("started"), raised
    assert descriptors == "descriptors unchanged"
