"""Shared fixtures: every gotty-py and redis-server a test starts is stopped by PID at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gotty import Gotty, GottyProcess, start_gotty
from tests.redis_server import MISSING, REDIS_SERVER, RedisServer


@pytest.fixture
def gotty() -> Iterator[Gotty]:
    """Start gotty-py servers for one test: `gotty("-w", "bash")`."""
    started: list[GottyProcess] = []

    def start(*args: str, **kwargs: Any) -> GottyProcess:
        handle = start_gotty("--address", "127.0.0.1", "--port", "0", *args, **kwargs)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free port of 127.0.0.1 (tests/redis_server.py), ended by
    its PID at teardown; the test is skipped only when Debian's redis-server is missing."""
    if not REDIS_SERVER.is_file():
        pytest.skip(MISSING)
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()
