"""Throughput, echo latency, session start and per-session memory of a real gotty-py
server process.

Run with `make bench` (or `python -m bench`). Figures are printed; nothing is asserted:
timings belong here, not in the tests.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import audit_checkpoints, sharing
from tests.gotty import Client, GottyProcess, proc_start, start_gotty


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        return int(next(ln for ln in handle if ln.startswith("VmRSS:")).split()[1])


def timed_session(server: GottyProcess) -> tuple[float, float]:
    """(MiB of PTY output received, seconds) for one session from init to close."""
    client = Client(server.ws_url, subprotocols=["webtty"])
    start = time.perf_counter()
    client.init()
    client.frames_until_close()
    return len(client.output) / 1024 / 1024, time.perf_counter() - start


def throughput(size_mb: int = 64, *, metrics: bool = False) -> None:
    """One session's output rate; with `metrics`, the operations listener's per-chunk
    counters (`--ops-port`) are on the path too."""
    server = start_gotty("-a", "127.0.0.1", "-p", "0", *(["--ops-port", "0"] if metrics else []),
                         "sh", "-c", f"stty raw -echo; head -c {size_mb * 1024 * 1024} /dev/zero")
    try:
        received, elapsed = timed_session(server)
        print(f"output throughput: {received / elapsed:8.1f} MB/s "
              f"({received:.0f} MiB PTY bytes in {elapsed:.2f} s, base64 over WebSocket"
              f"{', with --ops-port metrics' if metrics else ''})")
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


def _echo_ms(client: Client, token: bytes) -> float:
    start = time.perf_counter()
    client.input(token)
    client.read_until(token, timeout=60)
    return (time.perf_counter() - start) * 1000


def _session_shell(server: GottyProcess) -> tuple[Client, int, str]:
    import re

    client = Client(server.ws_url, subprotocols=["webtty"])
    client.init()
    output = client.read_while(lambda out: not re.search(rb"P=\d+\r?\n", out), 30)
    match = re.search(rb"P=(\d+)", output)
    assert match is not None
    pid = int(match.group(1))
    return client, pid, proc_start(pid) or ""


def mass_disconnect(sessions: int, close_timeout: int = 10) -> float:
    """`sessions` idle shells whose clients all vanish at once (no close frame): the time
    until every one of their processes is gone, and a surviving session's keystroke echo
    meanwhile (p50, p99, max). Returns the time, so that two sizes can be compared."""
    server = start_gotty("-a", "127.0.0.1", "-p", "0", "-w", "--ws-ping-interval", "0",
                         "--close-timeout", str(close_timeout), "sh", "-c", "echo P=$$; exec sh")
    try:
        survivor, _, _ = _session_shell(server)
        dropped = [_session_shell(server) for _ in range(sessions)]
        for i in range(20):
            _echo_ms(survivor, f"<w{i}>".encode())
        for client, _, _ in dropped:
            client.abort()
        start = time.monotonic()
        samples: list[float] = []
        gone = None
        i = 0
        while time.monotonic() - start < close_timeout + 60:
            samples.append(_echo_ms(survivor, f"<{i}>".encode()))
            i += 1
            if gone is None and all(proc_start(pid) != begun for _, pid, begun in dropped):
                gone = time.monotonic() - start
            if gone is not None and len(samples) >= 100:
                break
            time.sleep(0.002)
        survivor.close()
    finally:
        server.stop()
    samples.sort()
    took = float("nan") if gone is None else gone
    print(f"mass disconnect, {sessions:4d} sessions dropped at once: all processes gone after "
          f"{took:6.2f} s; survivor echo p50 {statistics.median(samples):5.1f} ms, "
          f"p99 {samples[int(len(samples) * 0.99)]:5.1f} ms, max {samples[-1]:5.1f} ms "
          f"({len(samples)} keystrokes)")
    return took


def mass_disconnects(small: int = 100, large: int = 300) -> None:
    """Two sizes in one run: about linear cost means the ratio stays near large / small."""
    first = mass_disconnect(small)
    second = mass_disconnect(large)
    print(f"mass disconnect, {large} / {small} sessions: {second / first:.1f}x the time "
          f"for {large / small:.0f}x the sessions")


# --- audit ---------------------------------------------------------------------------------

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


# --- session start with the shared store -----------------------------------------------------

def _first_output_seconds(server: GottyProcess, token: str) -> float:
    """Connect, send the init with a JWT launch, and wait for the first output frame."""
    start = time.perf_counter()
    client = Client(server.ws_url, subprotocols=["webtty"])
    client.init(f"?jwt={token}")
    while not client.recv().startswith("1"):
        pass
    elapsed = time.perf_counter() - start
    client.abort()
    return elapsed


def session_start(rounds: int = 200) -> None:
    """Connect to first output byte of a JWT launch, in-memory store beside Redis.

    Both servers run at once and sessions alternate between them, so that both see the same
    machine; the Redis is Debian's redis-server on loopback (no persistence).
    """
    from tests.jwt_keys import claims, hs256, write_secret
    from tests.redis_server import REDIS_SERVER, RedisServer

    if not REDIS_SERVER.is_file():
        print("session start:     skipped, /usr/bin/redis-server is not installed "
              "(scripts/ensure-system-packages.sh)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        secret = write_secret(Path(tmp) / "secret")
        redis = RedisServer(Path(tmp) / "redis")
        redis.start()
        common = ("-a", "127.0.0.1", "-p", "0", "--jwt-secret-file", f"{tmp}/secret",
                  "--reconnect", "sh", "-c", "echo ready")
        servers = {"memory": start_gotty("--store", "memory", *common),
                   "redis": start_gotty("--store", redis.url, *common)}
        samples: dict[str, list[float]] = {name: [] for name in servers}
        try:
            for server in servers.values():  # warm up: imports, the first connection
                _first_output_seconds(server, hs256(secret, claims(aud=None, iss=None)))
            order = list(servers.items())
            for _ in range(rounds):
                order.reverse()  # neither always follows the other's teardown
                for name, server in order:
                    token = hs256(secret, claims(aud=None, iss=None))
                    samples[name].append(_first_output_seconds(server, token) * 1000)
        finally:
            for server in servers.values():
                server.stop()
            redis.stop()
    medians = {}
    for name, values in samples.items():
        values.sort()
        medians[name] = statistics.median(values)
        print(f"session start, {name:6} store: median {medians[name]:5.2f} ms, "
              f"p95 {values[int(len(values) * 0.95)]:5.2f} ms "
              f"(connect to first output byte, JWT launch with a reconnect ticket, "
              f"{rounds} sessions)")
    print(f"session start, redis / memory: {medians['redis'] / medians['memory']:.2f}x "
          f"(+{medians['redis'] - medians['memory']:.2f} ms median)")


def main() -> None:
    with tempfile.TemporaryDirectory():
        throughput()
        throughput(metrics=True)
        echo_latency()
        session_start()
        memory_per_session()
        mass_disconnects()
        audit_throughput()
        audit_loop_cost()
        audit_stall("paced")
        audit_stall("flood")
        audit_checkpoints.run(quick=False)
        from bench import kubernetes_native
        kubernetes_native.run(quick=False)
        sharing.run(quick=False)


if __name__ == "__main__":
    main()
