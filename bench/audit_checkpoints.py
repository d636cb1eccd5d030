"""The cost of recording with signed checkpoints (`--audit-checkpoint-key`).

1. Output throughput of one session printing text flat out through a real server: recording
   off (the yardstick), on, and on with checkpoints at their most frequent (every event-log
   line and every second), each as a ratio to the yardstick of the same run.
2. In one process, the writer thread's cost of an event-log line with and without a
   checkpoint after every line (the worst case `--audit-checkpoint-lines 1`): what a
   checkpoint adds (an Ed25519 signature, one more line), as a ratio to a plain line.

Figures are printed, nothing is asserted. `run(quick=True)` uses smaller sizes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gotty_py.audit.checkpoints import Checkpointer
from gotty_py.audit.events import EventLog, utc_iso
from gotty_py.audit.signing import Signer
from gotty_py.audit.writer import BackgroundWriter
from tests.gotty import start_gotty

from .sessions import timed_session

TEXT_LINE = "audit checkpoints: déjà vu ✓ 漢字 🙂 0123456789 abcdefghijklmnopqrstuvwxyz"


def _key(directory: str) -> str:
    path = os.path.join(directory, "audit.key")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
        handle.write(Signer.generate("bench").text() + "\n")
    return path


def throughput(size_mb: int) -> None:
    command = ("sh", "-c", f'stty raw -echo; yes "$0" | head -c {size_mb * 1024 * 1024}',
               TEXT_LINE)
    rates: dict[str, float] = {}
    for mode in ("off", "on", "on+checkpoints"):
        with tempfile.TemporaryDirectory() as tmp:
            args = ["-a", "127.0.0.1", "-p", "0"]
            if mode != "off":
                args += ["--audit-dir", os.path.join(tmp, "audit")]
            if mode == "on+checkpoints":
                args += ["--audit-checkpoint-key", _key(tmp), "--audit-checkpoint-lines", "1",
                         "--audit-checkpoint-seconds", "1",
                         "--audit-checkpoint-copy", os.path.join(tmp, "copy")]
            server = start_gotty(*args, *command)
            try:
                received, elapsed = timed_session(server)
            finally:
                server.stop()
            rates[mode] = received / elapsed
            print(f"text throughput, recording {mode:<15} {rates[mode]:7.1f} MB/s "
                  f"({received:.0f} MiB in {elapsed:.2f} s; "
                  f"{rates[mode] / rates['off']:.2f}x of recording off)")


def line_cost(lines: int) -> None:
    """Writer-thread time per event-log line, plain and with a checkpoint after each."""
    costs: dict[str, float] = {}
    for mode in ("plain", "checkpoint"):
        with tempfile.TemporaryDirectory() as tmp:
            checkpoints = (Checkpointer(Signer.generate("bench"), 1, 3600)
                           if mode == "checkpoint" else None)
            log = EventLog(os.path.join(tmp, "events.jsonl"), BackgroundWriter(), checkpoints)
            log.open()
            record = {"event": "end", "time": utc_iso(time.time()), "session": "x" * 16,
                      "argv": ["kubectl", "exec", "-it", "pod"], "bytes_out": 123456}
            start = time.perf_counter()
            for _ in range(lines):
                log.append(record)
            costs[mode] = (time.perf_counter() - start) / lines * 1e6
            log.close()
    print(f"event-log line in the writer thread: plain {costs['plain']:.1f} µs, with a "
          f"signed checkpoint after it {costs['checkpoint']:.1f} µs "
          f"({costs['checkpoint'] / costs['plain']:.1f}x; {lines} lines)")


def run(quick: bool) -> None:
    throughput(16 if quick else 128)
    line_cost(500 if quick else 5000)


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
