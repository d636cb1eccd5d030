"""Shared fixtures: every gotty-py a test starts is stopped by PID at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.gotty import Gotty, GottyProcess, start_gotty


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
