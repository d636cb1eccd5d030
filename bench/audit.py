"""The audit's cost: throughput with a recording, loop stalls with 20 busy sessions.

Rules of this module: each figure is measured with the audit off and then on, in the same
run; stalls are measured inside the server (`bench.loop_probe`).
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import quote

from tests.gotty import Client, start_gotty

from .report import Run
from .sessions import timed_session

TEXT_LINE = "The quick brown fox — jumps över the lazy dog; 中文 0123456789 ~~~~~~~~~~"
# One command for every kind of session: `?arg=flood&arg=TEXT` prints TEXT as fast as it
# can, `?arg=paced&arg=TEXT` 8 KiB of it every 10 ms, no argument echoes keystrokes back.
AUDIT_CMD = ("sh", "-c", 'stty raw -echo; case "$1" in '
             'flood) exec yes "$2";; '
             'paced) b=$(yes "$2" | head -c 8192); while :; do printf %s "$b"; sleep 0.01; done;; '
             '*) exec cat;; esac', "sh")


def _drain(url: str, mode: str, seconds: float) -> int:
    """One heavy session: read (and drop) frames for `seconds`; the base64 bytes received."""
    client = Client(url, subprotocols=["webtty"])
    client.init(f"?arg={mode}&arg=" + quote(TEXT_LINE))
    received = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, frame = client.ws.recv_data_frame()
        received += len(frame.data)
    client.abort()
    return received


def _drain_many(url: str, mode: str, count: int, seconds: float) -> int:
    totals = [0] * count

    def run(index: int) -> None:
        totals[index] = _drain(url, mode, seconds)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(totals)


def _dir_bytes(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def audit_stall(mode: str, sessions: int = 20, seconds: float = 10.0, workers: int = 2) -> None:
    """Event-loop stalls and keystroke echo while `sessions` others print, audit off and on.

    The lag is measured inside the server (bench.loop_probe) over a window that starts once
    the heavy sessions run and ends before they are closed.
    """
    import signal

    for audit in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            args = ["-a", "127.0.0.1", "-p", "0", "-w", "--permit-arguments"]
            if audit:
                args += ["--audit-dir", tmp]
            server = start_gotty(*args, *AUDIT_CMD, module="bench.loop_probe")
            try:
                interactive = Client(server.ws_url, subprotocols=["webtty"])
                interactive.init()
                interactive.recv()
                with ProcessPoolExecutor(workers) as pool:
                    jobs = [pool.submit(_drain_many, server.ws_url, mode, sessions // workers,
                                        seconds) for _ in range(workers)]
                    time.sleep(1.5)  # the heavy sessions are spawned and running
                    recorded_before = _dir_bytes(tmp)
                    server.process.send_signal(signal.SIGUSR1)
                    window = time.monotonic()
                    samples = []
                    i = 0
                    while time.monotonic() - window < seconds - 3.0:
                        token = f"<{i}>".encode()
                        start = time.perf_counter()
                        interactive.input(token)
                        interactive.read_until(token)
                        samples.append((time.perf_counter() - start) * 1000)
                        interactive.output.clear()
                        i += 1
                        time.sleep(0.01)
                    server.process.send_signal(signal.SIGUSR2)
                    window = time.monotonic() - window
                    recorded = (_dir_bytes(tmp) - recorded_before) / window / 1024 / 1024
                    lag = server.wait_for_line("loop-lag:").strip()
                    received = sum(job.result() for job in jobs) * 3 / 4 / 1024 / 1024
                interactive.close()
            finally:
                server.stop()
            samples.sort()
            print(f"audit {'on ' if audit else 'off'}, {sessions} {mode} sessions "
                  f"({received / seconds:.1f} MB/s PTY output in all"
                  + (f", {recorded:.1f} MiB/s recorded" if audit else "") + f"): {lag}; "
                  f"echo p50 {statistics.median(samples):.1f} ms, "
                  f"p99 {samples[int(len(samples) * 0.99)]:.1f} ms, max {samples[-1]:.1f} ms "
                  f"({len(samples)} keystrokes)")


def audit_loop_cost(sessions: int = 20, seconds: float = 5.0, rate_mb: float = 2.0) -> None:
    """The audit's own share of loop stalls, in one process without PTYs or sockets.

    `sessions` producers hand 16 KiB chunks of text to their recorders at `rate_mb` MB/s
    each, as session pumps do (waiting on `backlog()` when told to); a probe task measures
    how late the loop wakes it. Without recorders the same producers only yield.
    """
    import asyncio
    import os

    from gotty_py.audit.asciicast import SessionRecorder, build_header
    from gotty_py.audit.writer import BackgroundWriter

    chunk = (TEXT_LINE + "\r\n").encode() * (16 * 1024 // len((TEXT_LINE + "\r\n").encode()))
    interval = len(chunk) / (rate_mb * 1024 * 1024)

    async def run(audit: bool, tmp: str) -> tuple[list[float], list[float], int]:
        writer = BackgroundWriter()
        writer.start()
        recorders = []
        if audit:
            for i in range(sessions):
                fd = os.open(f"{tmp}/{i}.cast", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                recorder = SessionRecorder(writer, fd, f"{tmp}/{i}.cast")
                recorder.start(build_header(width=80, height=24, timestamp=time.time(),
                                            command="x", title="x", env={}, metadata={}))
                recorders.append(recorder)
        lags: list[float] = []
        costs: list[float] = []
        stop = time.monotonic() + seconds

        async def probe() -> None:
            loop = asyncio.get_running_loop()
            while time.monotonic() < stop:
                before = loop.time()
                await asyncio.sleep(0.001)
                lags.append((loop.time() - before - 0.001) * 1000)

        async def producer(index: int) -> None:
            while time.monotonic() < stop:
                if audit:
                    start = time.perf_counter()
                    recorders[index].output(chunk)
                    costs.append((time.perf_counter() - start) * 1e6)
                    wait = recorders[index].backlog()
                    if wait is not None:
                        await wait
                await asyncio.sleep(interval)

        await asyncio.gather(probe(), *(producer(i) for i in range(sessions)))
        for recorder in recorders:
            await recorder.close("end")
        await writer.aclose()
        return lags, costs, writer.waits

    for audit in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            lags, costs, waits = asyncio.run(run(audit, tmp))
            lags.sort()
            line = (f"audit loop cost, recorders {'on ' if audit else 'off'} ({sessions} x "
                    f"{rate_mb:g} MB/s): loop lag max {lags[-1]:.1f} ms, "
                    f"p99 {lags[int(len(lags) * 0.99)]:.2f} ms")
            if audit:
                costs.sort()
                written = _dir_bytes(tmp) / 1024 / 1024
                line += (f"; output() call p50 {statistics.median(costs):.1f} µs, "
                         f"max {costs[-1]:.0f} µs; {written:.0f} MiB written, "
                         f"backpressure waits {waits}")
            print(line)


def audit_throughput(size_mb: int = 128) -> None:
    """One session printing text as fast as it can, with and without a recording."""
    command = ("sh", "-c",
               f'stty raw -echo; yes "$0" | head -c {size_mb * 1024 * 1024}', TEXT_LINE)
    for audit in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            args = ["-a", "127.0.0.1", "-p", "0"] + (["--audit-dir", tmp] if audit else [])
            server = start_gotty(*args, *command)
            try:
                received, elapsed = timed_session(server)
            finally:
                server.stop()
            recorded = _dir_bytes(tmp) / 1024 / 1024
            print(f"text throughput, audit {'on ' if audit else 'off'}: "
                  f"{received / elapsed:7.1f} MB/s ({received:.0f} MiB in {elapsed:.2f} s"
                  + (f"; {recorded:.0f} MiB recorded" if audit else "") + ")")


def stall_paced(run: Run) -> None:
    audit_stall("paced", *((4, 4.0) if run.quick else ()))


def stall_flood(run: Run) -> None:
    audit_stall("flood", *((4, 4.0) if run.quick else ()))


def loop_cost(run: Run) -> None:
    audit_loop_cost(seconds=1.0 if run.quick else 5.0)


def throughput(run: Run) -> None:
    audit_throughput(8 if run.quick else 128)
