"""gotty-py with an event-loop lag probe, for the benchmarks only.

Runs `gotty_py.cli.main` unchanged, plus a task that sleeps PERIOD seconds over and over and
notes how late each wake-up is: the longest time the loop was kept from running anything.
SIGUSR1 starts a measuring window (forgetting earlier samples), SIGUSR2 prints
`loop-lag: max X ms, p99 Y ms, N samples` for the window so far, so that spawning and
ending sessions stay outside it. Run as `python -m bench.loop_probe [gotty-py options] COMMAND`.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from gotty_py import cli

PERIOD = 0.005
_lags: list[float] = []
_serve = cli._serve


async def _probe() -> None:
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(PERIOD)
        _lags.append(max(0.0, loop.time() - before - PERIOD))


def _report() -> None:
    lags = sorted(_lags)
    if lags:
        print(f"loop-lag: max {lags[-1] * 1000:.1f} ms, "
              f"p99 {lags[int(len(lags) * 0.99)] * 1000:.1f} ms, {len(lags)} samples",
              flush=True)


async def _serve_with_probe(options: Any, command: list[str]) -> int:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, _lags.clear)
    loop.add_signal_handler(signal.SIGUSR2, _report)
    probe = asyncio.ensure_future(_probe())
    try:
        return await _serve(options, command)
    finally:
        probe.cancel()


cli._serve = _serve_with_probe

if __name__ == "__main__":
    cli.main()
