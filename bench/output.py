"""Output throughput: one session printing flat out, and what the client spent reading it.

Rules of this module: the figure is PTY bytes as the client decodes them (base64 text with
the PTY's CR before each LF) over the wall time from connect to the server's close; the
client's own CPU time (`thread_time`) is printed beside it, so that a client at 100 % of a
core (which would be measuring itself) shows.
"""

from __future__ import annotations

import tempfile
import time

from .report import Run, Table, median
from .terms import GottyTerm, Term, both, columns
from .wsclient import Closed


def _drain(term: Term) -> tuple[float, float, float]:
    """(MB/s of PTY output, seconds, client CPU seconds) for one session to its end."""
    start, cpu = time.perf_counter(), time.thread_time()
    client = term.open()
    received = 0
    try:
        while True:
            data = term.output(client.recv())
            if data:
                received += len(data)
    except Closed:
        pass
    if not received:
        raise AssertionError(f"{term.name}: no output")
    elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
    client.abort()
    return received / elapsed / 1e6, elapsed, cpu


def versus_terminado(run: Run) -> None:
    size = "1M" if run.quick else "64M"
    terms = both(("sh", "-c", f"head -c {size} /dev/zero | base64"))
    rates: dict[str, list[tuple[float, float, float]]] = {t.name: [] for t in terms}
    try:
        for round_ in range(run.rounds(3)):
            for term in terms if round_ % 2 == 0 else terms[::-1]:
                rates[term.name].append(_drain(term))
    finally:
        for term in terms:
            term.stop()
    table = Table(f"output of `head -c {size} /dev/zero | base64` (PTY cooked: CR LF), "
                  f"median of {run.rounds(3)} rounds", columns(terms))
    table.add("output", [median([r[0] for r in rates[t.name]]) for t in terms], "MB/s",
              "PTY bytes decoded by the client, connect to close")
    table.add("client CPU / wall", [median([r[2] / r[1] * 100 for r in rates[t.name]])
                                    for t in terms], "%",
              "the client's own thread: well under 100 % is not limiting", fmt="{:.0f}")
    table.print()


def raw_throughput(run: Run) -> None:
    """gotty-py alone: raw zero bytes (the base64 is the server's), with and without the
    operations listener's per-chunk metrics on the path."""
    size = 4 if run.quick else 64
    command = ("sh", "-c", f"stty raw -echo; head -c {size * 1024 * 1024} /dev/zero")
    table = Table(f"gotty-py output of {size} MiB of zero bytes (raw PTY)",
                  columns=("gotty-py",))
    with tempfile.TemporaryDirectory():
        for metrics in (False, True):
            term = GottyTerm(command, *(["--ops-port", "0"] if metrics else []))
            try:
                rate, elapsed, cpu = _drain(term)
            finally:
                term.stop()
            table.add("with --ops-port metrics" if metrics else "output", [rate], "MB/s",
                      f"client CPU {cpu / elapsed * 100:.0f} %")
    table.print()
