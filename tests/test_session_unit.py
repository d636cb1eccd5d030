"""The session state machine on its own, through its two interfaces.

The session layer knows neither Tornado nor PTYs (DESIGN.md); these tests drive it with
in-memory implementations of `Master` and `Slave` to pin down orderings that a real
network and a real PTY only expose as rare races. End-to-end behaviour is tested with real
parts in test_session.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gotty_py.webtty.session import (
    Launch,
    Refused,
    Session,
    SessionObserver,
    SessionPlugins,
    SessionSettings,
)
from gotty_py.webtty.state import EndCause, SessionEnd
from tests.fakes import InMemoryBackend, InMemorySlave, RecordingMaster
from tests.gotty import run_async


def make_session(width: int = 0, height: int = 0, spawn_yields: int = 0,
                 observers: Sequence[SessionObserver] = ()
                 ) -> tuple[Session, RecordingMaster, list[InMemorySlave]]:
    master = RecordingMaster()
    backend = InMemoryBackend(spawn_yields)

    async def authorize(_: object) -> Launch:
        return Launch(argv=("fake",), permit_write=True)

    settings = SessionSettings(render_title=lambda facts, v: "t", width=width, height=height)
    plugins = SessionPlugins(grant=authorize, observers=tuple(observers))
    return Session(master, settings, backend, plugins), master, backend.slaves


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

    async def scenario() -> None:
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        seen: list[bytes] = []

        class Slow(SessionObserver):
            def on_output(self, data: bytes) -> None:
                seen.append(data)

            def output_backlog(self) -> asyncio.Future[None] | None:
                return None if gate.done() else gate

        session, _, slaves = make_session(observers=[Slow()])
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


class Recorder(SessionObserver):
    """Notes which hooks it saw, in one list shared by several observers."""

    def __init__(self, name: str, log: list[str], refuse: bool = False,
                 fail_in: str = "") -> None:
        self.name, self.log, self.refuse, self.fail_in = name, log, refuse, fail_in

    def _note(self, hook: str) -> None:
        self.log.append(f"{self.name}.{hook}")
        if hook == self.fail_in:
            raise RuntimeError(f"{self.name} is broken")

    async def before_spawn(self, session: Session) -> None:
        self._note("before_spawn")
        if self.refuse:
            raise Refused(f"{self.name} says no")

    def on_start(self, session: Session) -> None:
        self._note("on_start")

    def on_output(self, data: bytes) -> None:
        self._note("on_output")

    async def on_end(self, session: Session, end: SessionEnd) -> None:
        self._note("on_end")


def test_the_first_refusal_before_spawn_wins_and_nothing_starts() -> None:
    async def scenario() -> None:
        seen: list[str] = []
        observers = [Recorder("a", seen), Recorder("b", seen, refuse=True), Recorder("c", seen)]
        session, master, slaves = make_session(observers=observers)
        session.receive(b"{}", binary=False)
        end = await session.wait()
        assert (end.cause, end.detail, master.closed) == (
            EndCause.REFUSED, "b says no", (1008, "b says no"))
        assert slaves == []
        assert session.facts is not None and session.facts.argv == ("fake",)
        assert seen == ["a.before_spawn", "b.before_spawn", "a.on_end", "b.on_end", "c.on_end"]

    run_async(scenario())


def test_a_failing_observer_ends_the_session_as_an_internal_error() -> None:
    """A bug in an observer (the audit recorder, say) must not let the session go on with
    its output unrecorded: it ends the session, and every observer still sees the end."""

    async def scenario() -> None:
        seen: list[str] = []
        observers = [Recorder("a", seen, fail_in="on_output"), Recorder("b", seen,
                                                                         fail_in="on_end"),
                     Recorder("c", seen)]
        session, master, slaves = make_session(observers=observers)
        session.receive(b"{}", binary=False)
        await settle()
        slaves[0]._output.put_nowait(b"data")
        end = await session.wait()
        assert (end.cause, master.closed) == (EndCause.INTERNAL_ERROR, (1011, "internal error"))
        assert slaves[0].closed
        assert seen.count("b.on_output") == 1 and seen.count("c.on_output") == 1
        assert seen[-3:] == ["a.on_end", "b.on_end", "c.on_end"]

    run_async(scenario())


def test_observers_add_to_the_session_info_after_their_start() -> None:
    """Our page's message 7 carries what each observer says once it has started (the audit
    plugin's `recorded`); the launch's own `writable` cannot be overridden."""
    class Info(SessionObserver):
        started = False

        def on_start(self, session: Session) -> None:
            self.started = True

        def session_info(self) -> dict[str, object]:
            return {"recorded": self.started, "writable": "no"}

    async def scenario() -> None:
        session, master, _ = make_session(observers=[Info()])
        session.receive(b'{"GottyPy":1}', binary=False)
        session.receive(b'3{"columns":80,"rows":24}', binary=False)
        await settle()
        assert [f for f in master.frames if f.startswith("7")] == [
            '7{"recorded":true,"writable":true}']
        session.shutdown()
        await session.wait()

    run_async(scenario())
