"""Throughput, echo latency and per-session memory of a real gotty-py server process.

Run with `make bench` (or `python -m bench`). Figures are printed; nothing is asserted:
timings belong here, not in the tests.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.gotty import Client, start_gotty


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        return int(next(ln for ln in handle if ln.startswith("VmRSS:")).split()[1])


def throughput(size_mb: int = 64) -> None:
    server = start_gotty("-a", "127.0.0.1", "-p", "0", "sh", "-c",
                         f"stty raw -echo; head -c {size_mb * 1024 * 1024} /dev/zero")
    try:
        client = Client(server.ws_url, subprotocols=["webtty"])
        start = time.perf_counter()
        client.init()
        client.frames_until_close()
        elapsed = time.perf_counter() - start
        received = len(client.output) / 1024 / 1024
        print(f"output throughput: {received / elapsed:8.1f} MB/s "
              f"({received:.0f} MiB PTY bytes in {elapsed:.2f} s, base64 over WebSocket)")
    finally:
        server.stop()


def echo_latency(rounds: int = 500) -> None:
    server = start_gotty("-a", "127.0.0.1", "-p", "0", "-w", "sh", "-c", "stty raw; cat")
    try:
        client = Client(server.ws_url, subprotocols=["webtty"])
        client.init()
        samples = []
        for i in range(rounds):
            token = f"<{i}>".encode()
            start = time.perf_counter()
            client.input(token)
            client.read_until(token)
            samples.append((time.perf_counter() - start) * 1e6)
        samples.sort()
        print(f"echo round trip:   median {statistics.median(samples):6.0f} µs, "
              f"p99 {samples[int(len(samples) * 0.99)]:6.0f} µs ({rounds} keystrokes)")
    finally:
        server.stop()


def memory_per_session(sessions: int = 200) -> None:
    server = start_gotty("-a", "127.0.0.1", "-p", "0", "sh", "-c", "read x")
    try:
        baseline = rss_kib(server.pid)
        clients = []
        for _ in range(sessions):
            client = Client(server.ws_url, subprotocols=["webtty"])
            client.init()
            client.recv()
            clients.append(client)
        grown = rss_kib(server.pid) - baseline
        print(f"server memory:     {grown / sessions:6.1f} KiB per idle session "
              f"({sessions} sessions, {grown} KiB over a {baseline} KiB baseline)")
        for client in clients:
            client.close()
    finally:
        server.stop()


def main() -> None:
    with tempfile.TemporaryDirectory():
        throughput()
        echo_latency()
        memory_per_session()


if __name__ == "__main__":
    main()
