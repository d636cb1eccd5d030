"""The session state machine on its own, through its two interfaces.

The session layer knows neither Tornado nor PTYs (DESIGN.md); these tests drive it with
in-memory implementations of `Master` and `Slave` to pin down orderings that a real
network and a real PTY only expose as rare races. End-to-end behaviour is tested with real
parts in test_session.py.
"""

from __future__ import annotations

import asyncio

from gotty_py.backend.base import SlaveInfo, StartRequest
from gotty_py.webtty.session import Launch, Session, SessionSettings
from tests.gotty import run_async


class RecordingMaster:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed: tuple[int, str] | None = None

    def send(self, frame: str) -> None:
        self.frames.append(frame)

    async def drain(self) -> None:
        return None

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


class InMemorySlave:
    def __init__(self, size: tuple[int, int]) -> None:
        self.started_with = size
        self.resizes: list[tuple[int, int]] = []
        self.written = bytearray()
        self.closed = False
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

    async def start(self, request: StartRequest) -> InMemorySlave:
        for _ in range(self.spawn_yields):  # a spawn that takes a while, like a fork+exec
            await asyncio.sleep(0)
        self.slaves.append(InMemorySlave(request.facts.size))
        return self.slaves[-1]


def make_session(width: int = 0, height: int = 0, spawn_yields: int = 0
                 ) -> tuple[Session, RecordingMaster, list[InMemorySlave]]:
    master = RecordingMaster()
    backend = InMemoryBackend(spawn_yields)

    async def authorize(_: object) -> Launch:
        return Launch(argv=("fake",), permit_write=True)

    settings = SessionSettings(render_title=lambda facts, v: "t", width=width, height=height)
    return Session(master, settings, authorize, backend), master, backend.slaves


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_a_resize_queued_with_the_init_is_the_starting_size() -> None:
    async def scenario() -> None:
        session, _, slaves = make_session()
        session.receive(b'{"Arguments":"","AuthToken":""}', binary=False)
        session.receive(b'3{"columns":123,"rows":45}', binary=False)
        session.receive(b"1hello", binary=False)
        await settle()
        assert slaves[0].started_with == (123, 45)
        assert slaves[0].written == b"hello"  # queued input is delivered, in order
        session.shutdown()
        await session.wait()

    run_async(scenario())


def test_starting_size_honours_fixed_dimensions_and_ignores_zero() -> None:
    async def scenario() -> None:
        session, _, slaves = make_session(width=50)
        session.receive(b"{}", binary=False)
        session.receive(b'3{"columns":123,"rows":45}', binary=False)
        await settle()
        assert slaves[0].started_with == (50, 45)
        other, _, other_slaves = make_session()
        other.receive(b"{}", binary=False)
        other.receive(b"3{}", binary=False)  # hterm before layout: keep the default size
        await settle()
        assert other_slaves[0].started_with == (80, 24)
        for s in (session, other):
            s.shutdown()
            await s.wait()

    run_async(scenario())


def test_client_leaving_during_start_still_ends_the_process() -> None:
    async def scenario() -> None:
        session, master, slaves = make_session(spawn_yields=3)
        session.receive(b"{}", binary=False)
        await asyncio.sleep(0)  # the start is under way, spawning
        session.client_closed()
        end = await session.wait()
        assert end.cause == "client-closed"
        assert slaves and slaves[0].closed  # spawned meanwhile, then ended before wait()
        assert master.frames == []

    run_async(scenario())


def test_an_observer_backlog_holds_the_output_pump() -> None:
    """An observer that falls behind (the audit writer) stops the PTY being read, like a
    slow client: nothing is read that it would have to drop."""
    from gotty_py.webtty.session import SessionObserver

    async def scenario() -> None:
        session, _, slaves = make_session()
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        seen: list[bytes] = []

        class Slow(SessionObserver):
            def on_output(self, data: bytes) -> None:
                seen.append(data)

            def output_backlog(self) -> asyncio.Future[None] | None:
                return None if gate.done() else gate

        session.observer = Slow()
        session.receive(b"{}", binary=False)
        session.receive(b'3{"columns":90,"rows":20}', binary=False)
        await settle()
        assert session.size == (90, 20)
        slaves[0]._output.put_nowait(b"one")
        slaves[0]._output.put_nowait(b"two")
        await settle()
        assert seen == [b"one"]
        gate.set_result(None)
        await settle()
        assert seen == [b"one", b"two"]
        session.shutdown()
        await session.wait()

    run_async(scenario())
