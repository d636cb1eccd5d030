"""`python -m bench [--quick] [NAME ...]`: gotty-py's benchmarks, by name.

Run with `make bench`. Figures are printed, nothing is asserted: timings belong here, not
in the tests. Without names every workload runs; with `--quick` and no names, only those
that compare gotty-py with terminado, at their smallest sizes (`tests/test_bench.py`).

Adding a workload is one line in WORKLOADS: a name and a callable taking a `Run`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    audit,
    audit_checkpoints,
    disconnect,
    kubernetes_native,
    latency,
    output,
    scale,
    sessions,
    sharing,
    store,
)
from bench.report import Run, header, loadavg
from bench.terms import BASELINE_VARIABLE

# (name, workload): the order they run in. The first four are the terminado comparison.
WORKLOADS: tuple[tuple[str, Callable[[Run], None]], ...] = (
    ("echo", latency.echo),
    ("start", latency.session_start),
    ("open500", scale.open_sessions),
    ("output", output.versus_terminado),
    ("output_raw", output.raw_throughput),
    ("memory", sessions.memory),
    ("store_start", store.store_start),
    ("mass_disconnect", disconnect.mass_disconnects),
    ("audit_throughput", audit.throughput),
    ("audit_loop_cost", audit.loop_cost),
    ("audit_stall_paced", audit.stall_paced),
    ("audit_stall_flood", audit.stall_flood),
    ("audit_checkpoints", lambda run: audit_checkpoints.run(quick=run.quick)),
    ("kubernetes_native", lambda run: kubernetes_native.run(quick=run.quick)),
    ("sharing", lambda run: sharing.run(quick=run.quick)),
)
QUICK_DEFAULT = ("echo", "start", "open500", "output")


def main(argv: list[str] | None = None) -> int:
    names = [name for name, _ in WORKLOADS]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smallest sizes, one round (checks that the bench runs)")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also run gotty-py from DIR's sources (e.g. `git archive` of "
                             "the commit before a change) as a third column")
    parser.add_argument("workloads", nargs="*", metavar="NAME",
                        help=f"workloads to run (default: all): {', '.join(names)}")
    args = parser.parse_args(argv)
    unknown = [name for name in args.workloads if name not in names]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(names)}")
    chosen = args.workloads or (list(QUICK_DEFAULT) if args.quick else names)
    run = Run(quick=args.quick)
    if args.baseline:
        os.environ[BASELINE_VARIABLE] = os.path.abspath(args.baseline)
    print(header(), flush=True)
    for name, workload in WORKLOADS:
        if name in chosen:
            workload(run)
    print(f"\nloadavg after: {loadavg()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
