"""Shared and detached sessions: the owner's echo latency with 0, 1 and 10 observers
(the 0-observer figure is the yardstick measured in the same run), and the memory of a
detached session whose output buffer is full, beside an attached idle one.

`run(quick)` prints the figures; nothing is asserted (timings belong here, not in tests).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.gotty import Client, GottyProcess, start_gotty

OUR_PAGE = {"GottyPy": 1, "Resumable": True}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        return int(next(ln for ln in handle if ln.startswith("VmRSS:")).split()[1])


def _info(client: Client, key: str) -> dict[str, Any]:
    while True:
        frame = client.recv()
        if frame.startswith("7"):
            info: dict[str, Any] = json.loads(frame[1:])
            if key in info:
                return info


def _owner(server: GottyProcess) -> Client:
    client = Client(server.ws_url, subprotocols=["webtty"])
    client.init(size=(80, 24), **OUR_PAGE)
    _info(client, "resume_ticket")
    return client


def _observer(server: GottyProcess, owner: Client, stop: threading.Event) -> threading.Thread:
    owner.send_text("8" + json.dumps({"join": "observer"}))
    ticket = _info(owner, "join_ticket")["join_ticket"]
    watcher = Client(server.ws_url, subprotocols=["webtty"])
    watcher.init(GottyPy=1, Join=ticket)

    def read() -> None:  # a client that keeps up, as a browser does
        while not stop.is_set():
            try:
                watcher.recv()
            except Exception:
                return
            del watcher.output[:]

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def echo_with_observers(counts: tuple[int, ...], rounds: int) -> None:
    medians: dict[int, float] = {}
    for count in counts:
        server = start_gotty("-a", "127.0.0.1", "-p", "0", "-w", "--max-observers", "10",
                             "sh", "-c", "stty raw -echo; cat")
        stop = threading.Event()
        try:
            owner = _owner(server)
            for _ in range(count):
                _observer(server, owner, stop)
            samples = []
            for i in range(rounds):
                token = f"<{i}>".encode()
                start = time.perf_counter()
                owner.input(token)
                owner.read_until(token)
                samples.append((time.perf_counter() - start) * 1e6)
                del owner.output[:]
            samples.sort()
            medians[count] = statistics.median(samples)
            print(f"owner echo, {count:2d} observers: median {medians[count]:6.0f} µs, "
                  f"p99 {samples[int(len(samples) * 0.99)]:6.0f} µs ({rounds} keystrokes"
                  + (f"; {medians[count] / medians[0]:.2f}x the 0-observer median"
                     if count and 0 in medians else "") + ")")
        finally:
            stop.set()
            server.stop()


def detached_memory(sessions: int) -> None:
    """RSS per attached idle session, then per detached session whose process printed more
    than the buffer holds (the buffer full, the PTY no longer read)."""
    command = ("sh", "-c", "stty raw -echo; read x; head -c 4000000 /dev/zero | tr '\\0' x; cat")
    server = start_gotty("-a", "127.0.0.1", "-p", "0", "-w", *command)
    try:
        baseline = rss_kib(server.pid)
        owners = [_owner(server) for _ in range(sessions)]
        attached = rss_kib(server.pid)
        for owner in owners:
            owner.input(b"go\n")
            owner.abort()
        deadline = time.monotonic() + 60
        while server.output().count("detach owner") < sessions and time.monotonic() < deadline:
            time.sleep(0.1)  # a benchmark's poll, not a test's synchronisation
        settled, last = 0, 0
        while settled < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
            now = rss_kib(server.pid)
            settled = settled + 1 if now == last else 0
            last = now
        per_attached = (attached - baseline) / sessions
        per_detached = (last - baseline) / sessions
        print(f"memory per session: attached idle {per_attached:6.0f} KiB; detached with a "
              f"full 256 KiB buffer {per_detached:6.0f} KiB ({sessions} sessions; "
              f"{per_detached / max(per_attached, 1):.1f}x)")
    finally:
        server.stop()


def reattach_cost(rounds: int) -> None:
    """What a reattach costs the chosen approach (replay plus a redraw through a one-row
    resize and back): the bytes replayed and the time until the replay has arrived (the
    next resume ticket follows it), then the bytes vim sends to redraw its screen."""
    with tempfile.TemporaryDirectory() as tmp:
        known = Path(tmp) / "known.txt"
        known.write_text("".join(f"line {i:02d} of a known file\n" for i in range(1, 41)))
        server = start_gotty("-a", "127.0.0.1", "-p", "0", "-w",
                             "vim", "-u", "NONE", "-N", "-n", str(known))
        try:
            owner = Client(server.ws_url, subprotocols=["webtty"])
            owner.init(size=(80, 24), **OUR_PAGE)
            ticket = _info(owner, "resume_ticket")["resume_ticket"]
            owner.read_until(b"known.txt")
            replayed, redrawn, seconds = [], [], []
            for _ in range(rounds):
                owner.abort()
                start = time.perf_counter()
                back = Client(server.ws_url, subprotocols=["webtty"])
                back.init(size=(80, 24), **OUR_PAGE, Resume=ticket)
                ticket = _info(back, "resume_ticket")["resume_ticket"]
                seconds.append((time.perf_counter() - start) * 1000)
                replayed.append(len(back.output))
                before = len(back.output)
                back.read_while(lambda out, n=before: b"line 23" not in out[n:], timeout=10)
                redrawn.append(len(back.output) - before)
                owner = back
            print(f"reattach (vim 80x24): replay {statistics.median(replayed) / 1024:5.1f} KiB "
                  f"in {statistics.median(seconds):5.1f} ms median, then the redraw "
                  f"{statistics.median(redrawn) / 1024:5.1f} KiB ({rounds} reattaches)")
        finally:
            server.stop()


def run(quick: bool) -> None:
    echo_with_observers((0, 1, 10), rounds=100 if quick else 500)
    detached_memory(sessions=10 if quick else 50)
    reattach_cost(rounds=5 if quick else 20)


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
