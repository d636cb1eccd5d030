"""Mass disconnects: many idle sessions whose clients vanish at once, and a survivor's echo.

Rules of this module: the clients drop without a close frame (as a network loss does); the
time is until every dropped session's process is gone, checked by PID and start time.
"""

from __future__ import annotations

import re
import statistics
import time

from tests.gotty import Client, GottyProcess, proc_start, start_gotty

from .report import Run


def _echo_ms(client: Client, token: bytes) -> float:
    start = time.perf_counter()
    client.input(token)
    client.read_until(token, timeout=60)
    return (time.perf_counter() - start) * 1000


def _session_shell(server: GottyProcess) -> tuple[Client, int, str]:
    client = Client(server.ws_url, subprotocols=["webtty"])
    client.init()
    output = client.read_while(lambda out: not re.search(rb"P=\d+\r?\n", out), 30)
    match = re.search(rb"P=(\d+)", output)
    assert match is not None
    pid = int(match.group(1))
    return client, pid, proc_start(pid) or ""


def mass_disconnect(sessions: int, close_timeout: int = 10) -> float:
    """`sessions` idle shells whose clients all vanish at once (no close frame): the time
    until every one of their processes is gone, and a surviving session's keystroke echo
    meanwhile (p50, p99, max). Returns the time, so that two sizes can be compared."""
    server = start_gotty("-a", "127.0.0.1", "-p", "0", "-w", "--ws-ping-interval", "0",
                         "--close-timeout", str(close_timeout), "sh", "-c", "echo P=$$; exec sh")
    try:
        survivor, _, _ = _session_shell(server)
        dropped = [_session_shell(server) for _ in range(sessions)]
        for i in range(20):
            _echo_ms(survivor, f"<w{i}>".encode())
        for client, _, _ in dropped:
            client.abort()
        start = time.monotonic()
        samples: list[float] = []
        gone = None
        i = 0
        while time.monotonic() - start < close_timeout + 60:
            samples.append(_echo_ms(survivor, f"<{i}>".encode()))
            i += 1
            if gone is None and all(proc_start(pid) != begun for _, pid, begun in dropped):
                gone = time.monotonic() - start
            if gone is not None and len(samples) >= 100:
                break
            time.sleep(0.002)
        survivor.close()
    finally:
        server.stop()
    samples.sort()
    took = float("nan") if gone is None else gone
    print(f"mass disconnect, {sessions:4d} sessions dropped at once: all processes gone after "
          f"{took:6.2f} s; survivor echo p50 {statistics.median(samples):5.1f} ms, "
          f"p99 {samples[int(len(samples) * 0.99)]:5.1f} ms, max {samples[-1]:5.1f} ms "
          f"({len(samples)} keystrokes)")
    return took


def mass_disconnects(run: Run) -> None:
    """Two sizes in one run: about linear cost means the ratio stays near large / small."""
    small, large = (5, 15) if run.quick else (100, 300)
    first = mass_disconnect(small)
    second = mass_disconnect(large)
    print(f"mass disconnect, {large} / {small} sessions: {second / first:.1f}x the time "
          f"for {large / small:.0f}x the sessions")
