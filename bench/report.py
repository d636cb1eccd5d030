"""How the bench reports: the machine and its load, medians over rounds, ratios.

Rules of this module: figures are printed, never asserted. Every comparison is a ratio of
two figures measured in the same run (servers interleaved, rounds alternating which goes
first), so that a busy machine slows both sides alike; the load before and after is printed
so that a reader can tell a quiet run from a noisy one.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Run:
    """What every workload is given: `quick` asks for the smallest sizes (a smoke test)."""

    quick: bool = False

    def rounds(self, full: int) -> int:
        return 1 if self.quick else full


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def commit() -> str:
    try:
        result = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


def header() -> str:
    """One block: the machine, the software and the load before the run."""
    import tornado

    return (f"machine: {cpu_model()}, {os.cpu_count()} cores; loadavg {loadavg()}\n"
            f"python {platform.python_version()} ({sys.implementation.name}), "
            f"tornado {tornado.version}, commit {commit()}")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of the samples lie (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def ratio(ours: float, theirs: float) -> str:
    if theirs == 0 or theirs != theirs or ours != ours:
        return "n/a"
    return f"{ours / theirs:.2f}x"


@dataclass
class Table:
    """Rows of `workload | gotty-py | terminado [| baseline] | gotty-py/terminado | note`,
    printed at once when the workload is done (a partial table is of no use)."""

    title: str
    columns: tuple[str, ...] = ("gotty-py", "terminado")
    rows: list[tuple[str, tuple[str, ...], str, str]] = field(default_factory=list)

    def add(self, name: str, values: Sequence[float], unit: str, note: str = "",
            *, fmt: str = "{:.1f}") -> None:
        """`values` in the order of `columns`; the ratio is the first over the second."""
        cells = tuple(fmt.format(v) + f" {unit}" for v in values)
        share = ratio(values[0], values[1]) if len(values) > 1 else ""
        self.rows.append((name, cells, share, note))

    def print(self) -> None:
        compared = len(self.columns) > 1
        names = ["workload", *self.columns] + ([f"{self.columns[0]} / {self.columns[1]}"]
                                                if compared else [])
        lines = [[name, *cells, *[""] * (len(self.columns) - len(cells))]
                 + ([share] if compared else []) for name, cells, share, _ in self.rows]
        notes = ["", *(note for *_, note in self.rows)]
        widths = [max(len(row[i]) for row in [names, *lines]) for i in range(len(names))]
        print(f"\n== {self.title}")
        for row, note in zip([names, *lines], notes, strict=True):
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
            print("  " + " | ".join(cells) + (f" | {note}" if note else ""), flush=True)
