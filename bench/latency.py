"""Keystroke echo and session start, gotty-py beside terminado, each with its two floors.

Rules of this module: servers are interleaved round by round (the order alternating), and
each figure is the median over rounds of that round's statistic. The floors are measured in
the same run, on the same stack and by the same client: for echo, a bare WebSocket echo
round trip (`floor_server`) and a bare round trip through `cat` on a PTY in this process;
for session start, a bare WebSocket upgrade and a bare command start under a PTY in this
process, the cheaper of ptyprocess's fork (terminado's spawn) and `posix_spawn` (gotty-py's).
"""

from __future__ import annotations

import os
import select
import signal
import time

from ptyprocess import PtyProcess

from gotty_py.backend.ptyspawn import spawn

from .report import Run, Table, median, percentile
from .terms import FloorServer, both, columns, finish, read_output
from .wsclient import WsClient

ECHO_COMMAND = ("sh", "-c", "stty raw -echo; exec cat")


def _ws_echo_us(url: str, keystrokes: int) -> list[float]:
    """Round trips of a one-byte text frame through the bare Tornado echo handler."""
    client = WsClient(url)
    samples = []
    try:
        for i in range(keystrokes):
            token = b"%d." % i
            start = time.perf_counter()
            client.send(token)
            while client.recv() != token:
                pass
            samples.append((time.perf_counter() - start) * 1e6)
    finally:
        client.close()
    return samples


def _pty_echo_us(keystrokes: int) -> list[float]:
    """Round trips of a keystroke through `cat` on a raw PTY, from this process: the PTY
    and the other process's wake-up, with no server and no socket."""
    child = spawn(["sh", "-c", "stty raw -echo; echo R; exec cat"], os.environ, 24, 80)
    samples = []
    try:
        os.set_blocking(child.fd, True)
        seen = b""
        while b"R" not in seen:
            seen += os.read(child.fd, 1024)
        for i in range(keystrokes):
            token = b"%d." % i
            start = time.perf_counter()
            os.write(child.fd, token)
            got = b""
            while not got.endswith(token):
                got += os.read(child.fd, 1024)
            samples.append((time.perf_counter() - start) * 1e6)
    finally:
        child.close()
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
    return samples


def echo(run: Run) -> None:
    """Keystrokes into `cat` on a raw, non-echoing PTY: what comes back is cat's output,
    so each sample is a full trip through the server, the PTY and the process."""
    keystrokes = 20 if run.quick else 400
    terms = both(ECHO_COMMAND)
    floor = FloorServer()
    p50: dict[str, list[float]] = {t.name: [] for t in terms}
    p99: dict[str, list[float]] = {t.name: [] for t in terms}
    floors: dict[str, tuple[list[float], list[float]]] = {"ws": ([], []), "pty": ([], [])}
    try:
        for round_ in range(run.rounds(5)):
            for term in terms if round_ % 2 == 0 else terms[::-1]:
                client = term.open()
                term.input(client, b"ready")
                read_output(term, client, b"ready")
                samples = []
                for i in range(keystrokes):
                    token = b"%d." % i
                    start = time.perf_counter()
                    term.input(client, token)
                    read_output(term, client, token)
                    samples.append((time.perf_counter() - start) * 1e6)
                client.close()
                p50[term.name].append(median(samples))
                p99[term.name].append(percentile(samples, 0.99))
            for name, samples in (("ws", _ws_echo_us(floor.url, keystrokes)),
                                  ("pty", _pty_echo_us(keystrokes))):
                floors[name][0].append(median(samples))
                floors[name][1].append(percentile(samples, 0.99))
    finally:
        floor.stop()
        for term in terms:
            term.stop()
    table = Table(f"keystroke echo into `cat` (raw, -echo), {keystrokes} per round, "
                  f"median of {run.rounds(5)} rounds", columns(terms))
    for index, (label, by_server) in enumerate((("p50", p50), ("p99", p99))):
        floors_sum = median(floors["ws"][index]) + median(floors["pty"][index])
        table.add(f"echo {label}", [median(by_server[t.name]) for t in terms], "µs",
                  f"{median(by_server['gotty-py']) / floors_sum:.2f}x the two floors "
                  f"({floors_sum:.0f} µs)", fmt="{:.0f}")
    for index, label in enumerate(("p50", "p99")):
        table.add(f"floor: bare Tornado WebSocket echo, {label}",
                  [median(floors["ws"][index])], "µs", fmt="{:.0f}")
        table.add(f"floor: keystroke through `cat` on a PTY, {label}",
                  [median(floors["pty"][index])], "µs", "in the bench process", fmt="{:.0f}")
    table.print()


def _handshake_ms(url: str, subprotocol: str | None) -> float:
    start = time.perf_counter()
    client = WsClient(url, subprotocol=subprotocol)
    elapsed = (time.perf_counter() - start) * 1000
    client.close()
    return elapsed


def pty_start_ms() -> float:
    """ptyprocess's spawn of `echo hi` to the first byte on the master: the floor."""
    start = time.perf_counter()
    process = PtyProcess.spawn(["echo", "hi"])
    process.closed = True  # closed below; its __del__ would sleep
    select.select([process.fd], [], [], 10)
    os.read(process.fd, 1024)
    elapsed = (time.perf_counter() - start) * 1000
    os.close(process.fd)
    os.waitpid(process.pid, 0)
    return elapsed


def posix_spawn_start_ms() -> float:
    """`posix_spawn` of `echo hi` on a new PTY (gotty-py's own spawn, `backend/ptyspawn`)
    to the first byte on the master: the lower of the two spawn floors."""
    start = time.perf_counter()
    child = spawn(["echo", "hi"], os.environ, 24, 80)
    select.select([child.fd], [], [], 10)
    os.read(child.fd, 1024)
    elapsed = (time.perf_counter() - start) * 1000
    child.close()
    os.waitpid(child.pid, 0)
    return elapsed


def session_start(run: Run) -> None:
    """Connect to the first output byte of `echo hi`, beside its two floors."""
    sessions = 5 if run.quick else 30
    terms = both(("echo", "hi"))
    floor = FloorServer()
    start: dict[str, list[float]] = {t.name: [] for t in terms}
    handshake: dict[str, list[float]] = {t.name: [] for t in terms}
    bare_ws: list[float] = []
    bare_pty: list[float] = []
    bare_spawn: list[float] = []
    try:
        for term in terms:  # warm up: the first connection's imports and caches
            finish(term.open())
        for round_ in range(run.rounds(5)):
            for term in terms if round_ % 2 == 0 else terms[::-1]:
                samples = []
                for _ in range(sessions):
                    begin = time.perf_counter()
                    client = term.open()
                    read_output(term, client, b"h")
                    samples.append((time.perf_counter() - begin) * 1000)
                    finish(client)
                start[term.name].append(median(samples))
                handshake[term.name].append(median(
                    [_handshake_ms(term.url, None if term.name == "terminado" else "webtty")
                     for _ in range(sessions)]))
            bare_ws.append(median([_handshake_ms(floor.url, None) for _ in range(sessions)]))
            bare_pty.append(median([pty_start_ms() for _ in range(sessions)]))
            bare_spawn.append(median([posix_spawn_start_ms() for _ in range(sessions)]))
    finally:
        floor.stop()
        for term in terms:
            term.stop()
    # The floor is the cheaper of the two ways to start a command under a PTY.
    floors = median(bare_ws) + min(median(bare_pty), median(bare_spawn))
    ours = median(start["gotty-py"])
    table = Table(f"session start, {sessions} sessions per round, median of "
                  f"{run.rounds(5)} rounds", columns(terms))
    table.add("connect -> first byte of `echo hi`", [median(start[t.name]) for t in terms], "ms",
              f"{ours / floors:.2f}x the two floors ({floors:.2f} ms)", fmt="{:.2f}")
    table.add("WebSocket handshake on the server", [median(handshake[t.name]) for t in terms],
              "ms", "terminado's includes its spawn (it starts in open())", fmt="{:.2f}")
    table.add("floor: bare Tornado WebSocket handshake", [median(bare_ws)], "ms", fmt="{:.2f}")
    table.add("floor: ptyprocess spawn of `echo hi` to first byte", [median(bare_pty)], "ms",
              "in the bench process", fmt="{:.2f}")
    table.add("floor: posix_spawn of `echo hi` to first byte", [median(bare_spawn)], "ms",
              "in the bench process", fmt="{:.2f}")
    table.print()
