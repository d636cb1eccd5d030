"""Session start with the shared store: the in-memory store beside Redis.

Rules of this module: both servers run at once and sessions alternate between them; the
Redis is Debian's redis-server on loopback, started here, without persistence.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tests.gotty import Client, GottyProcess, start_gotty

from .report import Run


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


def store_start(run: Run) -> None:
    session_start(10 if run.quick else 200)
