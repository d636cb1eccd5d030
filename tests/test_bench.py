"""The bench runs: `python -m bench --quick` prints every comparison row with a ratio.

No figure is checked against a bound (timings belong to `make bench`); what is checked is
that each workload ran to the end against both servers and printed a number and a ratio.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.gotty import ROOT

ROW = re.compile(r"^\s+(?P<name>[^|]+?)\s+\| (?P<ours>[\d.]+) \S+\s+\| (?P<theirs>[\d.]+) \S+"
                 r"\s+\| (?P<ratio>[\d.]+)x")


def test_quick_bench_prints_every_row_with_its_ratio() -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "echo", "start",
                             "open500", "output"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^machine: .+, \d+ cores; loadavg [\d.]+ [\d.]+ [\d.]+$", out, re.M), out
    assert re.search(r"^loadavg after: ", out, re.M), out
    rows = {m["name"]: m for m in map(ROW.match, out.splitlines()) if m}
    for name in ("echo p50", "echo p99", "connect -> first byte of `echo hi`",
                 "open 20 sessions", "server RSS with 20 open", "output"):
        assert name in rows, f"{name!r} missing from:\n{out}"
        row = rows[name]
        assert float(row["ours"]) > 0 and float(row["theirs"]) > 0, row.group(0)
        # The ratio is of the unrounded figures: within the cells' rounding of theirs.
        shown = float(row["ours"]) / float(row["theirs"])
        assert abs(shown - float(row["ratio"])) <= 0.1 * shown + 0.01, row.group(0)
    assert re.search(r"x the two floors \([\d.]+ ms\)", out), out
    assert re.search(r"echo p50 .*x the two floors \(\d+ µs\)", out), out
    assert re.search(r"floor: bare Tornado WebSocket echo, p50\s+\| \d+ µs", out), out
    assert re.search(r"floor: keystroke through `cat` on a PTY, p50\s+\| \d+ µs", out), out
    assert re.search(r"floor: bare Tornado WebSocket handshake\s+\| [\d.]+ ms", out), out
    assert re.search(r"floor: ptyprocess spawn .*\| [\d.]+ ms", out), out


def test_unknown_workload_is_refused_with_the_known_names() -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "nosuch"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "unknown workload(s) nosuch" in result.stderr and "echo" in result.stderr
