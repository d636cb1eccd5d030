"""Issue 11, point 9: nothing of a killed server's sessions survives it.

A real server runs sessions with a background job, `nohup`, `setsid`, a double fork and an
`env -i` job (tests/test_cleanup.py's TREE); the server is killed with SIGKILL, which it
cannot catch. Its watchdog ends what the kernel's hang-up leaves (the `nohup` and `setsid`
children, re-parented to PID 1) and exits. When the watchdog is killed too, the next server
started on the machine sweeps the dead instance's processes at its start, and leaves a live
other instance's alone.

These tests run in the serial pass (`make test`): a dead instance is swept by whichever
server starts next on the machine, so a server another pytest-xdist worker started meanwhile
would end part of what these tests count.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator

import pytest

from tests.gotty import Client, Gotty, GottyProcess, pid_alive, proc_start, wait_for
from tests.test_cleanup import TREE, all_gone, start_tree

pytestmark = pytest.mark.serial

_recorded: list[dict[int, str]] = []


@pytest.fixture(autouse=True)
def _kill_survivors() -> Iterator[None]:
    """Whatever a failing test leaves is killed by PID (start time checked)."""
    yield
    for client in _clients:
        client.abort()
    _clients.clear()
    for processes in _recorded:
        for pid, start in processes.items():
            if proc_start(pid) == start:
                os.kill(pid, signal.SIGKILL)
    _recorded.clear()


def watchdog_of(server: GottyProcess) -> tuple[int, str]:
    pid = server.watchdog_pid
    assert pid is not None, "no watchdog start-up line"
    start = proc_start(pid)
    assert start is not None
    _recorded.append({pid: start})
    return pid, start


def survivors(processes: dict[int, str]) -> list[int]:
    return [pid for pid, start in processes.items() if proc_start(pid) == start]


_clients: list[Client] = []  # held open: a dropped client would end its session normally


def _command(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def tree_of(server: GottyProcess) -> dict[int, str]:
    """TREE's processes, once each job has exec'd its `sleep`: until then `nohup` has not
    yet ignored SIGHUP nor `setsid` left the session, and the hang-up alone would end them."""
    client, processes, _ = start_tree(server)
    _clients.append(client)
    _recorded.append(processes)
    wait_for(lambda: sum(_command(pid).startswith(b"sleep\0") for pid in processes)
             == len(processes) - 1, 10, message="every job to run its sleep")
    return processes


def test_sigkill_of_the_server_leaves_nothing(gotty: Gotty) -> None:
    server = gotty("--close-timeout", "1", "sh", "-c", TREE)
    watchdog, started = watchdog_of(server)
    first, second = tree_of(server), tree_of(server)
    processes = {**first, **second}
    assert len(processes) == 12
    assert all(proc_start(pid) == start for pid, start in processes.items())
    server.process.kill()
    server.wait_exit(10)
    wait_for(lambda: all_gone(processes), 1 + 10,
             message=f"every session process to end (left: {survivors(processes)})")
    wait_for(lambda: proc_start(watchdog) != started, 10, message="the watchdog to exit")
    line = server.wait_for_line(r"Watchdog: the server \(pid \d+\) is gone; ended \d+ process")
    ended = re.search(r"ended (\d+) process", line)
    assert ended is not None and int(ended.group(1)) >= 4, line  # 2 x (nohup + setsid) at least


def test_normal_exit_dismisses_the_watchdog(gotty: Gotty) -> None:
    """SIGTERM: the server ends its sessions itself and the watchdog exits without a sweep."""
    server = gotty("--close-timeout", "1", "sh", "-c", TREE)
    watchdog, started = watchdog_of(server)
    processes = tree_of(server)
    server.process.send_signal(signal.SIGTERM)
    assert server.wait_exit(20) == 0
    assert all_gone(processes)
    wait_for(lambda: proc_start(watchdog) != started, 10, message="the watchdog to exit")
    assert not any("is gone; ended" in line for line in server.lines)


def test_no_watchdog_when_turned_off(gotty: Gotty) -> None:
    server = gotty("--watchdog=false", "sh", "-c", "echo hi")
    assert server.watchdog_pid is None


def test_start_up_sweep_ends_a_dead_instance_and_spares_a_live_one(gotty: Gotty) -> None:
    dead = gotty("--close-timeout", "1", "sh", "-c", TREE)
    live = gotty("--close-timeout", "1", "sh", "-c", TREE)
    dead_watchdog, _ = watchdog_of(dead)
    orphans = tree_of(dead)
    spared = tree_of(live)
    os.kill(dead_watchdog, signal.SIGKILL)  # both die as a node's OOM killer might do it
    dead.process.kill()
    dead.wait_exit(10)
    # The kernel's hang-up ends the shell and its plain jobs; nohup and setsid live on.
    wait_for(lambda: len(survivors(orphans)) < len(orphans), 10, message="the hang-up")
    left = survivors(orphans)
    assert left, "nothing survived the server's SIGKILL: the sweep would have nothing to do"
    sweeper = gotty("--close-timeout", "1", "sh", "-c", "echo hi")
    wait_for(lambda: all_gone(orphans), 1 + 10,
             message=f"the dead instance's processes to end (left: {survivors(orphans)})")
    sweeper.wait_for_line(r"Ended \d+ process\(es\) left by gotty-py instance")
    assert survivors(spared) == list(spared), "a live instance's processes were touched"
    assert pid_alive(live.pid)
