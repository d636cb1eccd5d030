"""Roles, detach and reattach in webtty/sharing.py, driven with in-memory fakes.

The hub is the session's `Master`; here the connections are `RecordingMaster`s (and one
that never drains, a client that stopped reading) and the process is an `InMemorySlave`.
End to end, with real sockets, PTYs and Chromium: test_sharing.py and
tests/browser/test_sharing_browser.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from typing import Any

import pytest

from gotty_py.webtty import protocol
from gotty_py.webtty.session import (
    Launch,
    Refused,
    Session,
    SessionObserver,
    SessionPlugins,
    SessionSettings,
)
from gotty_py.webtty.sharing import (
    Peer,
    Role,
    SessionDirectory,
    SharedMaster,
    SharingSettings,
    input_held,
    may_end,
)
from gotty_py.webtty.state import AttachEvent, AttachNote, Disconnect, EndCause
from tests.fakes import InMemoryBackend, InMemorySlave, RecordingMaster
from tests.gotty import run_async

INIT = b'{"Arguments":"","AuthToken":"","GottyPy":1,"Resumable":true}'


class NeverDrains(RecordingMaster):
    """A client that stopped reading: its backlog never drains."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped: str | None = None
        self._never = asyncio.Event()

    async def drain(self) -> None:
        await self._never.wait()

    def drop(self, why: str) -> None:
        self.dropped = why


class Notes(SessionObserver):
    def __init__(self) -> None:
        self.notes: list[AttachNote] = []

    def on_attach(self, session: Session, note: AttachNote) -> None:
        self.notes.append(note)


def output_text(frames: list[str]) -> bytes:
    return b"".join(base64.b64decode(f[1:]) for f in frames if f[:1] == protocol.OUTPUT)


def infos(frames: list[str]) -> list[dict[str, Any]]:
    return [json.loads(f[1:]) for f in frames if f[:1] == protocol.SET_SESSION_INFO]


def peer(master: RecordingMaster, who: str = "alice") -> Peer:
    drop = getattr(master, "drop", lambda why: None)
    return Peer(master, drop, who, "127.0.0.1:1")


def make(settings: SharingSettings, claims: Mapping[str, Any] | None = None
         ) -> tuple[Session, SharedMaster, RecordingMaster, list[InMemorySlave], Notes]:
    owner = RecordingMaster()
    notes = Notes()
    hub = SharedMaster(peer(owner), settings, SessionDirectory(), (notes,))

    async def authorize(_: object) -> Launch:
        return Launch(argv=("fake",), permit_write=True, claims=dict(claims or {}))

    backend = InMemoryBackend()
    session = Session(hub, SessionSettings(render_title=lambda f, v: "the title"), backend,
                      SessionPlugins(grant=authorize, observers=(notes, hub.observer())))
    return session, hub, owner, backend.slaves, notes


async def started(session: Session, slaves: list[InMemorySlave]) -> InMemorySlave:
    session.receive(INIT, binary=False)
    session.receive(b'3{"columns":80,"rows":24}', binary=False)
    for _ in range(100):
        await asyncio.sleep(0.001)
        if slaves and session.state == "running":
            return slaves[0]
    raise AssertionError("session did not start")


async def settle(turns: int = 20) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


def test_the_roles_rules() -> None:
    assert may_end(Role.MODERATOR) and not may_end(Role.OBSERVER) and not may_end(Role.OWNER)
    assert input_held(moderated=True, moderators=0)
    assert not input_held(moderated=True, moderators=1)
    assert not input_held(moderated=False, moderators=0)


def test_an_observer_gets_the_screen_then_live_output_and_cannot_type() -> None:
    async def scenario() -> None:
        session, hub, owner, slaves, notes = make(SharingSettings(max_observers=2))
        slave = await started(session, slaves)
        slave._output.put_nowait(b"before join\r\n")
        await settle()
        watcher = RecordingMaster()
        guest = hub.join(peer(watcher, "bob"), Role.OBSERVER)
        slave._output.put_nowait(b"after join\r\n")
        await settle()
        assert watcher.frames[0] == protocol.encode_title("the title")
        assert {"writable": False, "role": "observer"} in infos(watcher.frames)
        assert output_text(watcher.frames) == b"before join\r\nafter join\r\n"
        # The owner is told who watches; the observer never sees the owner's own info.
        assert any(i.get("watchers") == [{"who": "bob", "role": "observer"}]
                   for i in infos(owner.frames))
        assert not any("resume_ticket" in i for i in infos(watcher.frames))
        hub.guest_frame(guest, b"1rm -rf /\r")  # read-only: never written
        hub.guest_frame(guest, b'8{"end":true}')  # an observer may not end the session
        await settle()
        assert bytes(slave.written) == b"" and session.state == "running"
        hub.guest_left(guest)
        assert [(n.event, n.role, n.who) for n in notes.notes] == [
            (AttachEvent.JOIN, "observer", "bob"), (AttachEvent.LEAVE, "observer", "bob")]
        session.shutdown()
        await session.wait()

    run_async(scenario())


def test_a_slow_observer_is_dropped_and_never_slows_the_owner() -> None:
    async def scenario() -> None:
        session, hub, owner, slaves, notes = make(
            SharingSettings(max_observers=2, buffer_bytes=16384))
        slave = await started(session, slaves)
        slow = NeverDrains()
        hub.join(peer(slow, "slow"), Role.OBSERVER)
        for _ in range(100):
            slave._output.put_nowait(b"y\n" * 512)
        await settle(400)
        assert slave._output.qsize() == 0  # the owner got everything: the pump never waited
        assert output_text(owner.frames).count(b"y\n") == 100 * 512
        assert slow.dropped is not None and "behind" in slow.dropped
        assert hub.observer_count == 0
        assert notes.notes[-1].event is AttachEvent.LEAVE and "behind" in notes.notes[-1].detail
        session.shutdown()
        await session.wait()

    run_async(scenario())


def test_a_lost_owner_detaches_and_reattaches_to_the_same_process_without_loss() -> None:
    async def scenario() -> None:
        session, hub, owner, slaves, notes = make(
            SharingSettings(detach_grace=30, buffer_bytes=16384))
        slave = await started(session, slaves)
        await settle()
        ticket = infos(owner.frames)[-1]["resume_ticket"]
        assert hub.owner_lost(owner, Disconnect.LOST)
        assert hub.detached and session.state == "running"
        for i in range(10):  # 10 KiB of base64 frames: kept, under the bound
            slave._output.put_nowait(f"line {i}\n".encode() * 100)
        await settle(100)
        assert slave._output.qsize() == 0
        for i in range(10, 200):  # far more than the buffer: the PTY stops being read
            slave._output.put_nowait(f"line {i}\n".encode() * 100)
        await settle(100)
        assert slave._output.qsize() > 0 and hub.buffer.size <= 16384 + 2000
        found = hub.directory.redeem_resume(ticket)
        assert found is not None and found[0] is hub
        assert hub.directory.redeem_resume(ticket) is None  # single use
        back = RecordingMaster()
        hub.reattach(peer(back))
        await settle(400)
        assert back.frames[0] == protocol.encode_title("the title")
        text = output_text(back.frames)
        # Everything from the detach on arrived, in order: nothing was dropped.
        expected = b"".join(f"line {i}\n".encode() * 100 for i in range(200))
        assert text.endswith(expected)
        assert slave.resizes[-1] == (80, 23)  # the redraw: a row less, then the real size
        for _ in range(200):
            await asyncio.sleep(0.01)
            if slave.resizes[-1] == (80, 24):
                break
        assert slave.resizes[-2:] == [(80, 23), (80, 24)]
        assert "resume_ticket" in infos(back.frames)[-2]
        assert [n.event for n in notes.notes] == [AttachEvent.DETACH, AttachEvent.REATTACH]
        session.shutdown()
        await session.wait()

    run_async(scenario())


async def _reattached(
        settings: SharingSettings) -> tuple[InMemorySlave, Session, SharedMaster]:
    """A session whose owner was lost and whose page is back, before anything printed."""
    session, hub, owner, slaves, _ = make(settings)
    slave = await started(session, slaves)
    await settle()
    assert hub.owner_lost(owner, Disconnect.LOST)
    hub.reattach(peer(RecordingMaster()))
    return slave, session, hub


async def _resized_to(slave: InMemorySlave, size: tuple[int, int], seconds: float) -> float:
    """Seconds until the slave's last resize is `size`, polled; fails past `seconds`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while slave.resizes[-1] != size:
        assert loop.time() - start < seconds, slave.resizes
        await asyncio.sleep(0.01)
    return loop.time() - start


def test_the_redraw_restores_the_size_only_once_the_program_has_drawn() -> None:
    """A program slow to answer the shrink (vim on a loaded machine) must still see the
    size change back afterwards: restored before it looked, it would draw nothing."""
    async def scenario() -> None:
        slave, session, _ = await _reattached(SharingSettings(detach_grace=30))
        assert slave.resizes[-1] == (80, 23)
        await asyncio.sleep(0.3)  # the program is busy: well past the 0.1 s bump
        assert slave.resizes[-1] == (80, 23)
        slave._output.put_nowait(b"the screen at 23 rows")  # it answers the shrink
        await _resized_to(slave, (80, 24), 2)
        session.shutdown()
        await session.wait()

    run_async(scenario())


def test_the_owners_resize_during_the_redraw_waits_for_it() -> None:
    """The page's first resize after reattaching, applied at once, would put the size back
    before the program looked at it (vim then drew nothing): it is held until the restore."""
    async def scenario() -> None:
        slave, session, hub = await _reattached(SharingSettings(detach_grace=30))
        assert hub.intercept(b'3{"columns":100,"rows":30}')  # held by the hub
        await asyncio.sleep(0.2)
        assert slave.resizes[-1] == (80, 23)
        slave._output.put_nowait(b"the screen at 23 rows")
        await _resized_to(slave, (100, 30), 2)
        assert session.size == (100, 30)
        assert not hub.intercept(b'3{"columns":90,"rows":30}')  # no redraw: the session's
        session.shutdown()
        await session.wait()

    run_async(scenario())


def test_a_quick_program_gets_its_size_back_after_the_bump_not_the_wait(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gotty_py.webtty.sharing.REDRAW_WAIT_SECONDS", 5.0)

    async def scenario() -> None:
        slave, session, _ = await _reattached(SharingSettings(detach_grace=30))
        slave._output.put_nowait(b"drawn at once")
        waited = await _resized_to(slave, (80, 24), 4.5)  # well before the 5 s wait
        assert waited >= 0.05  # but not before the bump's 0.1 s
        session.shutdown()
        await session.wait()

    run_async(scenario())


def test_a_program_that_draws_nothing_gets_its_size_back_after_the_wait(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gotty_py.webtty.sharing.REDRAW_WAIT_SECONDS", 0.5)

    async def scenario() -> None:
        slave, session, _ = await _reattached(SharingSettings(detach_grace=30))
        assert await _resized_to(slave, (80, 24), 5) >= 0.4
        session.shutdown()
        await session.wait()

    run_async(scenario())


def test_a_detached_session_ends_after_its_grace_period() -> None:
    async def scenario() -> None:
        session, hub, owner, slaves, _ = make(SharingSettings(detach_grace=1))
        await started(session, slaves)
        assert hub.owner_lost(owner, Disconnect.LOST)
        end = await asyncio.wait_for(session.wait(), 10)
        assert end.cause is EndCause.DETACH_EXPIRED
        assert slaves[0].closed  # the process is ended, as at any end

    run_async(scenario())


def test_a_closed_page_or_a_client_without_resume_ends_as_before() -> None:
    async def scenario() -> None:
        session, hub, owner, slaves, _ = make(SharingSettings(detach_grace=30))
        await started(session, slaves)
        assert not hub.owner_lost(owner, Disconnect.CLOSED)
        session.shutdown()
        await session.wait()
        session, hub, owner, slaves, _ = make(SharingSettings(detach_grace=30))
        session.receive(b'{"Arguments":"","AuthToken":""}', binary=False)  # GoTTY's page
        await settle(50)
        assert session.state == "running"
        assert not hub.owner_lost(owner, Disconnect.LOST)
        assert not infos(owner.frames)  # no message 7 for GoTTY's clients
        session.shutdown()
        await session.wait()

    run_async(scenario())


def test_a_moderated_session_holds_input_until_a_moderator_is_present() -> None:
    async def scenario() -> None:
        session, hub, owner, slaves, _ = make(SharingSettings(max_observers=2),
                                              claims={"moderated": True})
        slave = await started(session, slaves)
        await settle()
        assert hub.input_held
        assert any(i.get("input_held") is True for i in infos(owner.frames))
        assert hub.intercept(b"1held")
        moderator = RecordingMaster()
        guest = hub.join(peer(moderator, "mod"), Role.MODERATOR)
        assert not hub.input_held and not hub.intercept(b"1typed")
        session.receive(b"1typed", binary=False)
        slave._output.put_nowait(b"out")
        await settle()
        assert bytes(slave.written) == b"typed"
        assert output_text(moderator.frames).endswith(b"out")  # output flows to all
        assert {"watchers": [{"who": "mod", "role": "moderator"}], "input_held": False,
                "detached": False} in infos(owner.frames)
        hub.guest_frame(guest, b'8{"end":true}')
        end = await asyncio.wait_for(session.wait(), 10)
        assert end.cause is EndCause.ENDED_BY_MODERATOR and "mod" in end.detail

    run_async(scenario())


def test_a_moderated_session_without_sharing_is_refused() -> None:
    async def scenario() -> None:
        session, _, owner, slaves, _ = make(SharingSettings(max_observers=0, detach_grace=5),
                                            claims={"moderated": True})
        session.receive(INIT, binary=False)
        end = await asyncio.wait_for(session.wait(), 10)
        assert end.cause is EndCause.REFUSED and not slaves
        assert owner.closed is not None and "moderat" in owner.closed[1]

    run_async(scenario())


def test_the_owner_mints_single_use_join_tickets_and_observers_are_bounded() -> None:
    async def scenario() -> None:
        session, hub, owner, slaves, _ = make(SharingSettings(max_observers=1))
        await started(session, slaves)
        assert hub.intercept(b"8" + b"[" * 100_000)  # hostile: ignored, within bounds
        assert hub.intercept(b"8not json") and session.state == "running"
        assert hub.intercept(b'8{"join":"moderator"}')
        reply = infos(owner.frames)[-1]
        assert reply["join_role"] == "moderator"
        found = hub.directory.redeem_join(reply["join_ticket"])
        assert found == (hub, Role.MODERATOR)
        assert hub.directory.redeem_join(reply["join_ticket"]) is None
        hub.join(peer(RecordingMaster(), "one"), Role.OBSERVER)
        with pytest.raises(Refused, match="at most 1"):
            hub.join(peer(RecordingMaster(), "two"), Role.OBSERVER)
        session.shutdown()
        await session.wait()
        assert hub.directory.hub(session.id) is None  # forgotten with its tickets

    run_async(scenario())
