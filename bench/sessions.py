"""gotty-py alone: one session's whole output, and memory per idle session.

Rules of this module: one server per figure, started and stopped here.
"""

from __future__ import annotations

import time

from tests.gotty import Client, GottyProcess, start_gotty

from .report import Run
from .terms import rss_kib


def timed_session(server: GottyProcess) -> tuple[float, float]:
    """(MiB of PTY output received, seconds) for one session from init to close."""
    client = Client(server.ws_url, subprotocols=["webtty"])
    start = time.perf_counter()
    client.init()
    client.frames_until_close()
    return len(client.output) / 1024 / 1024, time.perf_counter() - start


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


def memory(run: Run) -> None:
    memory_per_session(20 if run.quick else 200)
