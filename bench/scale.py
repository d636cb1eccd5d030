"""Many sessions in one server: the time to open 500 `sh` sessions and the server's memory.

Rules of this module: each round starts each server afresh, so that a round's baseline is a
server that has never had a session; the resident set is the server process's own
(`VmRSS`), not its children's: the shells are the same on both sides.
"""

from __future__ import annotations

import time

from .report import Run, Table, median
from .terms import GottyTerm, TerminadoTerm, baseline_source, read_output, rss_kib
from .wsclient import WsClient


def _open_all(term: GottyTerm | TerminadoTerm, count: int) -> tuple[float, int, int]:
    """(seconds to open `count` sessions one after another, each until its prompt; RSS
    before, RSS with all open, in KiB)."""
    baseline = rss_kib(term.server.pid)
    clients: list[WsClient] = []
    start = time.perf_counter()
    for _ in range(count):
        client = term.open()
        read_output(term, client)  # the prompt
        clients.append(client)
    elapsed = time.perf_counter() - start
    grown = rss_kib(term.server.pid)
    for client in clients:
        client.close()
    return elapsed, baseline, grown


def open_sessions(run: Run) -> None:
    count = 20 if run.quick else 500
    rounds = run.rounds(2)
    source = baseline_source()
    names = ("gotty-py", "terminado", *(("baseline",) if source else ()))
    results: dict[str, list[tuple[float, int, int]]] = {name: [] for name in names}
    for round_ in range(rounds):
        for kind in names if round_ % 2 == 0 else names[::-1]:
            term: GottyTerm | TerminadoTerm = (
                TerminadoTerm(("sh",)) if kind == "terminado"
                else GottyTerm(("sh",), "--handshake-rate", "0",
                               source=source if kind == "baseline" else None))
            try:
                results[kind].append(_open_all(term, count))
            finally:
                term.stop()
    seconds = [median([r[0] for r in results[n]]) for n in names]
    with_all = [median([r[2] / 1024 for r in results[n]]) for n in names]
    per = [median([(r[2] - r[1]) / count for r in results[n]]) for n in names]
    table = Table(f"{count} `sh` sessions opened one after another (each to its prompt), "
                  f"median of {rounds} rounds", names)
    table.add(f"open {count} sessions", seconds, "s", fmt="{:.2f}")
    table.add(f"server RSS with {count} open", with_all, "MiB",
              "server process only, children excluded")
    table.add("server RSS per session", per, "KiB", "growth over a fresh server / sessions")
    table.print()
