"""In-memory stand-ins for a session's two sides, for tests that drive sessions without a
network or a PTY: a `Master` that records frames, a `Backend` whose `Slave`s the test
feeds. The real parts are tested end to end elsewhere (test_session.py and others)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gotty_py.backend.base import SlaveInfo, StartRequest
from gotty_py.webtty.state import Undelivered


class RecordingMaster:
    """A `Master` that keeps every frame sent and the close."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed: tuple[int, str] | None = None

    def send(self, frame: str) -> None:
        self.frames.append(frame)

    async def drain(self) -> None:
        return None

    def close(self, code: int, reason: str, *, flush: bool = True) -> None:
        self.closed = (code, reason)

    async def delivery(self) -> Undelivered | None:
        return None  # every frame is "delivered" as it is sent


class InMemorySlave:
    """A `Slave` whose output the test feeds (`_output`) and whose input it reads."""

    def __init__(self, request: StartRequest) -> None:
        self.request = request
        self.started_with = request.facts.size
        self.resizes: list[tuple[int, int]] = []
        self.written = bytearray()
        self.closed = False
        self.hidden: bool | None = None  # what input_hidden() says (the test sets it)
        self._output: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        return await self._output.get()

    def write(self, data: bytes) -> None:
        self.written += data

    @property
    def input_backlogged(self) -> bool:
        return False

    async def drain_input(self) -> None:
        return None

    def resize(self, columns: int, rows: int) -> None:
        self.resizes.append((columns, rows))

    def input_hidden(self) -> bool | None:
        return self.hidden


    async def close(self) -> None:
        self.closed = True
        self._output.put_nowait(b"")

    @property
    def exit_status(self) -> int | None:
        return 0 if self.closed else None

    def describe(self) -> SlaveInfo:
        return SlaveInfo(summary="in memory", variables={"command": "fake"})


class InMemoryBackend:
    """Starts an `InMemorySlave` per session, optionally taking a few loop turns to do it."""

    name = "in memory"

    def __init__(self, spawn_yields: int = 0) -> None:
        self.spawn_yields = spawn_yields
        self.slaves: list[InMemorySlave] = []

    close_time = 0.0

    def check_command(self, command: Sequence[str]) -> None:
        """Any command will do: the in-memory slave runs none."""

    async def start(self, request: StartRequest) -> InMemorySlave:
        for _ in range(self.spawn_yields):  # a spawn that takes a while, like a fork+exec
            await asyncio.sleep(0)
        self.slaves.append(InMemorySlave(request))
        return self.slaves[-1]
