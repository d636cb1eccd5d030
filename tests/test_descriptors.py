"""Out of file descriptors (issue 11, point 5): a real server whose RLIMIT_NOFILE the test
lowers (`prlimit` on its PID), real TCP and WebSocket clients on loopback.

Measured on the server process: its CPU time and how much it logs while connections wait
that it cannot accept, its descriptors (/proc/PID/fd) after spawns that failed for lack of
them, and that a session started before keeps echoing throughout.
"""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Iterator

import pytest

from tests.gotty import Client, Gotty, GottyProcess, open_session, wait_for
from tests.hostile import ECHO_COMMAND, EchoProbe, cpu_seconds, fd_count

# Measures the loop's responsiveness: run alone, after the parallel pass.
pytestmark = pytest.mark.serial


@pytest.fixture
def limited(gotty: Gotty) -> Iterator[tuple[GottyProcess, EchoProbe]]:
    server = gotty("-w", "--handshake-concurrency", "0", "--handshake-rate", "0",
                   *ECHO_COMMAND)
    probe = EchoProbe.start(server)
    _, hard = resource.prlimit(server.pid, resource.RLIMIT_NOFILE)
    yield server, probe
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (hard, hard))
    probe.stop()


def set_descriptor_limit(server: GottyProcess, soft: int) -> None:
    _, hard = resource.prlimit(server.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (soft, hard))


def test_out_of_descriptors_the_server_backs_off_and_sessions_go_on(
        limited: tuple[GottyProcess, EchoProbe]) -> None:
    server, probe = limited
    limit = fd_count(server.pid) + 8
    set_descriptor_limit(server, limit)
    host, port = server.host.split(":")
    waiting = [socket.create_connection((host, int(port)), timeout=10) for _ in range(40)]
    try:
        wait_for(lambda: fd_count(server.pid) >= limit - 1, 10,
                 message="the server to use up its descriptors")
        time.sleep(0.2)  # the first accept that fails is not measured
        log_before, cpu_before, began = len(server.output()), cpu_seconds(server.pid), \
            time.monotonic()
        probes_before = len(probe.latencies)
        time.sleep(3)  # the measured interval: nothing to wait for, the server must idle
        elapsed = time.monotonic() - began
        cpu = cpu_seconds(server.pid) - cpu_before
        logged = len(server.output()) - log_before
        echoes = probe.latencies[probes_before:]  # the probe's thread measures throughout
        print(f"out of descriptors for {elapsed:.1f} s: {cpu:.2f} s of CPU "
              f"({cpu / elapsed:.0%}), {logged} bytes logged, a session's echo max "
              f"{max(echoes) * 1000:.0f} ms over {len(echoes)} probes")
        assert cpu < 0.2 * elapsed
        assert logged < 2000
        assert len(echoes) >= 10 and max(echoes) < 1.0
        assert server.output().count("out of file descriptors") <= 2
    finally:
        for sock in waiting:
            sock.close()
    set_descriptor_limit(server, 1024)
    client = open_session(server, size=(80, 24))
    client.read_until(b"READY", 15)
    server.wait_for_line(r"Accepting connections again after")


def test_failed_spawns_leave_no_descriptor_behind(
        limited: tuple[GottyProcess, EchoProbe]) -> None:
    server, probe = limited
    baseline = fd_count(server.pid)
    # The connection and one more: no PTY pair (posix_spawn opens nothing else; a --cwd
    # start's ptyprocess fork would first open its exec-error pipe there).
    set_descriptor_limit(server, baseline + 2)
    closes = []
    for _ in range(6):
        client = Client(server.ws_url, subprotocols=["webtty"]).init(size=(80, 24))
        client.frames_until_close()
        assert client.closed is not None
        closes.append((client.closed.code, client.closed.reason))
        client.close()
        if fd_count(server.pid) >= baseline + 2:
            break  # before the fix: the leaked pipes leave no room even to accept
    deadline = time.monotonic() + 5
    while fd_count(server.pid) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)  # the server closes the connections' sockets
    after = fd_count(server.pid)
    print(f"{len(closes)} failed spawns: {closes}, descriptors {baseline} before, "
          f"{after} after")
    assert closes == [(1011, "failed to start command: too many open files")] * 6
    assert after == baseline
    assert probe.latencies and max(probe.latencies) < 1.0  # the other session went on
