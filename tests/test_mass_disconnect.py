"""Issue 11, point 3: many sessions ending at once cost about N and never freeze the loop.

A real server holds SESSIONS idle `sh` sessions and one survivor; every other client drops
its connection at once (no close frame). While their processes are being ended, the
survivor's keystroke echo (the PTY's own echo, through the server's event loop both ways)
is measured at every probe, and every dropped session's shell must be gone within the close
timeout plus a margin.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator

import pytest

from tests.gotty import Client, Gotty, open_session, proc_start, run_async

# Measures the loop's responsiveness: run alone, after the parallel pass.
pytestmark = pytest.mark.serial

SESSIONS = 200
ECHO_LIMIT_MS = 100.0
CLOSE_TIMEOUT = 2
MARGIN = 8.0  # seconds past the close timeout for SIGKILL and the reaping, on a busy machine

SCRIPT = "echo P=$$; exec sh"

_started: dict[int, str] = {}


@pytest.fixture(autouse=True)
def _kill_leftovers() -> Iterator[None]:
    """A failing run must not leave its shells behind (killed by PID, start time checked)."""
    yield
    for pid, start in _started.items():
        if proc_start(pid) == start:
            os.kill(pid, signal.SIGKILL)
    _started.clear()


def _shell_pid(client: Client) -> tuple[int, str]:
    output = client.read_while(lambda out: not re.search(rb"P=\d+\r?\n", out), 30,
                               "the shell's PID")
    match = re.search(rb"P=(\d+)", output)
    assert match is not None
    pid = int(match.group(1))
    start = proc_start(pid)
    assert start is not None
    _started[pid] = start
    return pid, start


def _echo_ms(client: Client, token: bytes) -> float:
    start = time.perf_counter()
    client.input(token)
    client.read_until(token, timeout=30)
    return (time.perf_counter() - start) * 1000


def test_mass_disconnect_keeps_the_loop_responsive(gotty: Gotty) -> None:
    server = gotty("-w", "--close-timeout", str(CLOSE_TIMEOUT), "--ws-ping-interval", "0",
                   "sh", "-c", SCRIPT)
    survivor = open_session(server)
    _shell_pid(survivor)
    dropped: list[Client] = []
    shells: dict[int, str] = {}
    for _ in range(SESSIONS):
        client = open_session(server)
        pid, start = _shell_pid(client)
        shells[pid] = start
        dropped.append(client)
    for i in range(5):  # warm: the survivor answers promptly before the drop
        _echo_ms(survivor, f"<w{i}>".encode())

    for client in dropped:
        client.abort()
    dropped_at = time.monotonic()
    deadline = dropped_at + CLOSE_TIMEOUT + MARGIN
    samples: list[float] = []
    gone_after: float | None = None
    i = 0
    while time.monotonic() < deadline:
        samples.append(_echo_ms(survivor, f"<{i}>".encode()))
        i += 1
        if gone_after is None and all(proc_start(pid) != start
                                      for pid, start in shells.items()):
            gone_after = time.monotonic() - dropped_at
        if gone_after is not None and len(samples) >= 20:
            break
        time.sleep(0.005)
    left = [pid for pid, start in shells.items() if proc_start(pid) == start]
    samples.sort()
    figure = (f"{SESSIONS} sessions dropped: all gone after "
              f"{'never' if gone_after is None else f'{gone_after:.2f} s'} "
              f"({len(left)} left); survivor echo p50 {samples[len(samples) // 2]:.1f} ms, "
              f"max {samples[-1]:.1f} ms over {len(samples)} probes")
    print(figure)
    assert not left, figure
    assert samples[-1] < ECHO_LIMIT_MS, figure
    assert gone_after is not None and gone_after < CLOSE_TIMEOUT + MARGIN, figure
    # The survivor's own session is untouched and still works.
    assert _echo_ms(survivor, b"<after>") < 1000
    survivor.close()


def test_concurrent_questions_share_one_scan() -> None:
    """ProcessScanner, in this process: 40 sessions asking at once get one snapshot (two at
    most, when the first was already running), each finds exactly its own process, and a
    process that forges no marker and is in no tree is in no answer."""
    import asyncio
    import subprocess

    from gotty_py.backend.processtree import ProcessScanner

    children = [subprocess.Popen(["sleep", "1000"], env={"GOTTY_SESSION_ID": f"s{i}"})
                for i in range(40)]
    bystander = subprocess.Popen(["sleep", "1000"])
    try:
        for child in [*children, bystander]:
            start = proc_start(child.pid)
            assert start is not None
            _started[child.pid] = start

        async def ask() -> tuple[list[list[int]], int]:
            scanner = ProcessScanner()
            # Leaders that are not held: only the marker counts (as for an exited command).
            answers = await asyncio.gather(*(
                scanner.session_processes(1, f"GOTTY_SESSION_ID=s{i}", lambda: False)
                for i in range(40)))
            return [[info.pid for info in found] for found in answers], scanner.scans

        answers, scans = run_async(ask())
        assert answers == [[child.pid] for child in children]
        assert scans <= 2, f"{scans} scans for 40 concurrent questions"
    finally:
        for process in [*children, bystander]:
            process.kill()
            process.wait()
