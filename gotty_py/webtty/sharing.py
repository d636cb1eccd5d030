"""One running session's clients: the owner (attached or detached), observers, moderators.

Rules of this module: a `SharedMaster` is the session's `Master` when resume or sharing is
enabled; the session never learns that it fans out. Output frames go to the attached owner
at once (its own connection's water marks apply) and into the session's `OutputBuffer`
(webtty/buffer.py), from which each guest reads at its own pace. What may slow the process
is the owner's connection or, while the owner is detached, the buffer filling up: never a
guest (one that falls behind what the buffer keeps is dropped with a reason). Roles decide
who may write (the owner), end the session (owner by closing, moderator by asking) and
whether the owner's input is held (a moderated session without a moderator present). Who
attached and left is told to the observers the hub was given (`SessionObserver.on_attach`:
the event log, the recording's markers). Tickets (resume, join) are kept in the server's
`SessionDirectory`, in this process: a resume reaches the process it names, or none.
No Tornado; asyncio only for the grace timer, the redraw and the guests' pumps.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from . import protocol
from .buffer import Lagging, OutputBuffer, Reader
from .protocol import CloseCode
from .session import Master, Refused, Session, SessionObserver
from .state import AttachEvent, AttachNote, Disconnect, EndCause, SessionEnd, State, Undelivered

log = logging.getLogger("gotty_py.session")

TICKET_BYTES = 32
JOIN_TICKET_SECONDS = 600  # an owner's join link works once, within ten minutes
GUEST_READ_LIMIT = 64 * 1024  # bytes a guest's pump sends per turn (fairness)
# How long the terminal stays one row smaller when a client attaches. The real size comes
# back once the program has answered the first SIGWINCH and gone quiet (no output for
# REDRAW_QUIET_SECONDS after its redraw), and at least REDRAW_BUMP_SECONDS after the shrink;
# at the latest REDRAW_WAIT_SECONDS after it, for a program that draws nothing or never
# stops. A restore sent while the program is still handling the first SIGWINCH can be
# missed: vim then stayed drawn one row short (seen on a loaded machine with a fixed 0.1 s,
# and with a restore at the redraw's first byte). For the same reason the owner's own
# resizes wait for the restore: the page's first resize after reattaching, applied during
# the bump, put the old size back before vim had looked, and vim drew nothing at all.
REDRAW_BUMP_SECONDS = 0.1
REDRAW_QUIET_SECONDS = 0.05
REDRAW_WAIT_SECONDS = 2.0
# Frames a new client gets before the replay, by type: the title, buffer size,
# reconnect delay and preferences the session sent at its start.
_SETUP_TYPES = (protocol.SET_WINDOW_TITLE, protocol.SET_BUFFER_SIZE, protocol.SET_RECONNECT,
                protocol.SET_PREFERENCES)
_GUEST_TYPES = (protocol.SET_WINDOW_TITLE, protocol.SET_PREFERENCES)
INPUT_HELD = "input held: a moderator must be present"
MODERATED_WITHOUT_SHARING = ("moderated session refused: no moderator could join "
                             "(--max-observers is 0)")


class Role(StrEnum):
    OWNER = "owner"  # started the session; the only one who types
    OBSERVER = "observer"  # sees the screen, then live output; read-only
    MODERATOR = "moderator"  # an observer who may end the session; unholds moderated input


def may_end(role: Role) -> bool:
    """Whether a guest of this role may end the session (the owner ends it by leaving)."""
    return role is Role.MODERATOR


def input_held(moderated: bool, moderators: int) -> bool:
    """A moderated session's owner types into the process only while a moderator watches."""
    return moderated and moderators == 0


@dataclass(frozen=True)
class SharingSettings:
    """The server's knobs for resume and sharing (--detach-grace, --session-buffer,
    --max-observers)."""

    detach_grace: int = 60
    buffer_bytes: int = 256 * 1024
    max_observers: int = 0

    @property
    def enabled(self) -> bool:
        return self.detach_grace > 0 or self.max_observers > 0


@dataclass(frozen=True)
class SharingState:
    """What a live-session listing shows of one session's attachments (read-only)."""

    detached: bool
    observer_count: int  # observers and moderators
    moderator_count: int
    input_held: bool


@dataclass(frozen=True)
class Peer:
    """One connection attaching: how to send to it, drop it, and who it is."""

    master: Master
    drop: Callable[[str], None]  # end the connection at once (it does not read)
    who: str  # the user, else the client's address
    remote_addr: str


@dataclass(eq=False)
class Guest:
    """An observer or moderator attached to a session."""

    peer: Peer
    role: Role
    reader: Reader
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pump: asyncio.Task[None] | None = None
    gone: bool = False


class SessionDirectory:
    """The running sessions that may be reattached or joined, and their tickets; one per
    server, in this process (a ticket of another replica is unknown here)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hubs: dict[str, SharedMaster] = {}
        self._resume: dict[str, tuple[str, str | None]] = {}  # ticket -> (session, user)
        self._joins: dict[str, tuple[str, Role, float]] = {}  # ticket -> (session, role, until)

    def add(self, session_id: str, hub: SharedMaster) -> None:
        self._hubs[session_id] = hub

    def remove(self, session_id: str) -> None:
        self._hubs.pop(session_id, None)
        for table in (self._resume, self._joins):
            for ticket in [t for t, entry in table.items() if entry[0] == session_id]:
                del table[ticket]

    def hub(self, session_id: str) -> SharedMaster | None:
        return self._hubs.get(session_id)

    def sessions(self) -> dict[str, SharingState]:
        """Each live session's attachments, by session id."""
        return {session_id: hub.state for session_id, hub in self._hubs.items()}

    def issue_resume(self, session_id: str, user: str | None, previous: str | None) -> str:
        if previous is not None:
            self._resume.pop(previous, None)
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        self._resume[ticket] = (session_id, user)
        return ticket

    def redeem_resume(self, ticket: str) -> tuple[SharedMaster, str | None] | None:
        """The session's hub and its user, once; None for an unknown or used ticket."""
        entry = self._resume.pop(ticket, None)
        if entry is None:
            return None
        hub = self._hubs.get(entry[0])
        return (hub, entry[1]) if hub is not None else None

    def issue_join(self, session_id: str, role: Role) -> str:
        self._prune()
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        self._joins[ticket] = (session_id, role, self._clock() + JOIN_TICKET_SECONDS)
        return ticket

    def redeem_join(self, ticket: str) -> tuple[SharedMaster, Role] | None:
        self._prune()
        entry = self._joins.pop(ticket, None)
        if entry is None:
            return None
        hub = self._hubs.get(entry[0])
        return (hub, entry[1]) if hub is not None else None

    def _prune(self) -> None:
        now = self._clock()
        for ticket in [t for t, (_, _, until) in self._joins.items() if until <= now]:
            del self._joins[ticket]


class SharedMaster:
    """A session's clients as one `Master` (see the module's rules)."""

    def __init__(self, owner: Peer, settings: SharingSettings, directory: SessionDirectory,
                 listeners: tuple[SessionObserver, ...]) -> None:
        self.settings = settings
        self.directory = directory
        self._listeners = listeners
        self.owner: Peer | None = owner
        self._owner_peer = owner  # the last owner connection (for its remote address)
        self.buffer = OutputBuffer(settings.buffer_bytes)
        self.guests: list[Guest] = []
        self.session: Session | None = None  # known once it runs
        self.moderated = False
        self._setup: dict[str, str] = {}
        self._owner_info: str | None = None  # the session's own info message (owner only)
        self._detached: Reader | None = None  # pins the output while the owner is away
        self._room = asyncio.Event()
        self._room.set()
        self._grace: asyncio.TimerHandle | None = None
        # While the terminal is one row smaller for a redraw: when the size comes back, and
        # the earliest and latest it may (see REDRAW_BUMP_SECONDS).
        self._redraw_restore: asyncio.TimerHandle | None = None
        self._redraw_earliest = 0.0
        self._redraw_latest = 0.0
        self._resize_after_redraw: bytes | None = None  # the owner's latest, held meanwhile
        self._resume_ticket: str | None = None
        self._closed = False
        self._held_noted = False

    # --- what others read ------------------------------------------------------------------

    @property
    def detached(self) -> bool:
        return self.owner is None and not self._closed

    @property
    def observer_count(self) -> int:
        return len(self.guests)

    @property
    def moderator_count(self) -> int:
        return sum(1 for guest in self.guests if guest.role is Role.MODERATOR)

    @property
    def input_held(self) -> bool:
        return input_held(self.moderated, self.moderator_count)

    @property
    def state(self) -> SharingState:
        return SharingState(detached=self.detached, observer_count=self.observer_count,
                            moderator_count=self.moderator_count, input_held=self.input_held)

    def observer(self) -> SessionObserver:
        """The session's observer that binds this hub to it (given to the session last but
        one, before the connection's slot)."""
        return _HubObserver(self)

    # --- the session's Master ----------------------------------------------------------------

    def send(self, frame: str) -> None:
        kind = frame[:1]
        if kind == protocol.OUTPUT:
            if self._redraw_restore is not None:
                self._redraw_drawing()
            for reader in self.buffer.append(frame):
                self._lagged(reader)
            for guest in self.guests:
                guest.wake.set()
        elif kind in _SETUP_TYPES:
            self._setup[kind] = frame
            if kind in _GUEST_TYPES:
                for guest in self.guests:
                    guest.peer.master.send(frame)
        elif kind == protocol.SET_SESSION_INFO and self._owner_info is None:
            self._owner_info = frame  # the session's own (a reconnect ticket): owner only
        if self.owner is not None:
            self.owner.master.send(frame)

    async def drain(self) -> None:
        while True:
            owner = self.owner
            if owner is not None:
                await owner.master.drain()
                return
            if self._closed or not self.buffer.full:
                return
            self._room.clear()
            await self._room.wait()

    def close(self, code: int, reason: str, *, flush: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        self._cancel_grace()
        self._room.set()
        if self.owner is not None:
            self.owner.master.close(code, reason, flush=flush)
        for guest in list(self.guests):
            self._flush_guest(guest)
            guest.peer.master.close(code, reason, flush=flush)
            self._forget(guest)

    async def delivery(self) -> Undelivered | None:
        owner = self.owner
        return await owner.master.delivery() if owner is not None else None

    # --- the owner's connection --------------------------------------------------------------

    @property
    def resumable(self) -> bool:
        session = self.session
        return (self.settings.detach_grace > 0 and session is not None
                and session.init is not None and session.init.resumable
                and session.state is State.RUNNING)

    def owner_lost(self, master: Master, how: Disconnect) -> bool:
        """The owner's connection `master` is gone. True when the session goes on: the
        connection was an old one (a page has reattached since), or it was lost (not
        closed) and the page can resume: the session detaches for the grace period."""
        if self.owner is None or self.owner.master is not master:
            return self.session is not None and self.session.state is State.RUNNING
        if how is not Disconnect.LOST or not self.resumable or self._closed:
            return False
        self.owner = None
        self._detached = self.buffer.open(holds=True, replay=False)
        grace = self.settings.detach_grace
        self._grace = asyncio.get_running_loop().call_later(grace, self._expire, grace)
        peer = self._owner_peer
        self._note(AttachEvent.DETACH, Role.OWNER, peer, f"connection lost; {grace} s to resume")
        self._tell_watchers()
        return True

    def reattach(self, peer: Peer) -> None:
        """The owner's page is back with its resume ticket: the same process, the screen
        replayed and redrawn, typing goes on. An owner connection still attached (the page
        saw the loss before the server did) is dropped; `Refused` once the session ends."""
        session = self.session
        if self._closed or session is None or session.state is not State.RUNNING:
            raise Refused("session is not running")
        old = self.owner
        if old is not None:
            old.drop("replaced by the owner's page reattaching")
        self._cancel_grace()
        self._send_setup(peer.master, owner=True)
        for frame in self._replay():
            peer.master.send(frame)
        if self._detached is not None:
            self.buffer.close(self._detached)
            self._detached = None
        self.owner = self._owner_peer = peer
        self._room.set()
        self._note(AttachEvent.REATTACH, Role.OWNER, peer, "")
        self._announce_owner()
        self._tell_watchers()
        self._redraw()

    def intercept(self, frame: bytes) -> bool:
        """A frame of the owner's that the hub takes instead of the session: a sharing
        request, or input held in a moderated session without a moderator."""
        kind = frame[:1]
        session = self.session
        if (kind == bytes([protocol.SHARING_REQUEST]) and session is not None
                and session.init is not None and session.init.gotty_py):
            self._request(frame, Role.OWNER, self.owner)  # GoTTY's clients: unknown type
            return True
        if kind == bytes([protocol.RESIZE_TERMINAL]) and self._redraw_restore is not None:
            self._resize_after_redraw = frame  # applied when the size comes back
            return True
        if kind == bytes([protocol.INPUT]) and self.input_held:
            if not self._held_noted:
                self._held_noted = True
                log.info("Session %s: input held until a moderator joins", self._id())
            return True
        return False

    # --- guests ------------------------------------------------------------------------------

    def join(self, peer: Peer, role: Role) -> Guest:
        """An observer or moderator joins: the setup frames, the replay, then live output;
        `Refused` when the session takes no more guests or is not running."""
        session = self.session
        if self._closed or session is None or session.state is not State.RUNNING:
            raise Refused("session is not running")
        if len(self.guests) >= self.settings.max_observers:
            raise Refused(f"too many observers (at most {self.settings.max_observers})")
        guest = Guest(peer, role, self.buffer.open(holds=False, replay=True))
        self._send_setup(peer.master, owner=False)
        peer.master.send(protocol.encode_session_info({"writable": False, "role": role.value}))
        self.guests.append(guest)
        guest.pump = asyncio.ensure_future(self._pump(guest))
        self._note(AttachEvent.JOIN, role, peer, "")
        self._tell_watchers()
        if role is Role.MODERATOR and self.moderated and self.moderator_count == 1:
            log.info("Session %s: a moderator is present; input flows", self._id())
        self._redraw()
        return guest

    def guest_frame(self, guest: Guest, frame: bytes) -> None:
        """A frame from a guest: pings are answered and a moderator may ask to end the
        session; input and resizes are ignored (guests are read-only)."""
        kind = frame[:1]
        if kind == bytes([protocol.PING]):
            guest.peer.master.send(protocol.encode_pong())
        elif kind == bytes([protocol.SHARING_REQUEST]):
            self._request(frame, guest.role, guest.peer)

    def guest_left(self, guest: Guest, detail: str = "left") -> None:
        if guest.gone:
            return
        self._forget(guest)
        self._note(AttachEvent.LEAVE, guest.role, guest.peer, detail)
        self._tell_watchers()

    async def _pump(self, guest: Guest) -> None:
        master = guest.peer.master
        while not guest.gone:
            try:
                frames = self.buffer.read(guest.reader, GUEST_READ_LIMIT)
            except Lagging:
                return  # dropped by the append that trimmed past it
            if not frames:
                guest.wake.clear()
                await guest.wake.wait()
                continue
            for frame in frames:
                master.send(frame)
            await master.drain()
            await asyncio.sleep(0)  # one turn per guest per chunk: none starves another

    def _lagged(self, reader: Reader) -> None:
        for guest in self.guests:
            if guest.reader is reader:
                why = (f"dropped: fell more than {self.buffer.capacity} bytes behind "
                       f"the session's output")
                guest.peer.drop(why)
                self.guest_left(guest, why)
                return

    def _flush_guest(self, guest: Guest) -> None:
        try:
            for frame in self.buffer.read(guest.reader, self.buffer.capacity * 2):
                guest.peer.master.send(frame)
        except Lagging:
            pass

    def _forget(self, guest: Guest) -> None:
        guest.gone = True
        guest.wake.set()
        if guest in self.guests:
            self.guests.remove(guest)
        self.buffer.close(guest.reader)
        if guest.pump is not None and guest.pump is not asyncio.current_task():
            guest.pump.cancel()

    # --- requests, info, redraw ------------------------------------------------------------

    def _request(self, frame: bytes, role: Role, peer: Peer | None) -> None:
        try:
            request = protocol.parse_sharing_request(frame)
        except protocol.ProtocolError:
            return  # a page of ours never sends one; nothing to do but ignore it
        if peer is None:
            return
        session = self.session
        if role is Role.OWNER and request.get("join") in (Role.OBSERVER, Role.MODERATOR):
            if session is None or self.settings.max_observers == 0:
                return
            join_role = Role(request["join"])
            ticket = self.directory.issue_join(session.id, join_role)
            log.info("Session %s: the owner made a %s join link", session.id, join_role,
                     extra=session.log_fields)
            peer.master.send(protocol.encode_session_info(
                {"join_ticket": ticket, "join_role": join_role.value}))
        elif request.get("end") is True and may_end(role) and session is not None:
            session.abort(EndCause.ENDED_BY_MODERATOR, f"ended by moderator {peer.who}",
                          CloseCode.POLICY_VIOLATION)

    def _send_setup(self, master: Master, *, owner: bool) -> None:
        for kind in _SETUP_TYPES if owner else _GUEST_TYPES:
            frame = self._setup.get(kind)
            if frame is not None:
                master.send(frame)
        if owner and self._owner_info is not None:
            master.send(self._owner_info)

    def _replay(self) -> list[str]:
        reader = self.buffer.open(holds=False, replay=True)
        try:
            return self.buffer.read(reader, self.buffer.size + 1)
        finally:
            self.buffer.close(reader)

    def _announce_owner(self) -> None:
        """The owner's page learns what it may do: resume (its next ticket), share."""
        session = self.session
        owner = self.owner
        if session is None or owner is None or session.init is None or not session.init.gotty_py:
            return
        info: dict[str, Any] = {"role": Role.OWNER.value, "sharing": {
            "resume": self.resumable, "detach_grace": self.settings.detach_grace,
            "join": self.settings.max_observers > 0, "moderated": self.moderated}}
        if self.resumable:
            self._resume_ticket = self.directory.issue_resume(
                session.id, session.facts.user if session.facts else None, self._resume_ticket)
            info["resume_ticket"] = self._resume_ticket
        owner.master.send(protocol.encode_session_info(info))

    def _tell_watchers(self) -> None:
        """Everyone attached learns who is watching and whether input is held."""
        info = protocol.encode_session_info({
            "watchers": [{"who": guest.peer.who, "role": guest.role.value}
                         for guest in self.guests],
            "input_held": self.input_held, "detached": self.detached})
        if self.owner is not None:
            self.owner.master.send(info)
        for guest in self.guests:
            guest.peer.master.send(info)
        self._held_noted = False

    def _redraw(self) -> None:
        """Make a full-screen program draw its whole screen for the new client: one row
        smaller for a moment, then the real size again (two SIGWINCHs)."""
        session = self.session
        slave = session.slave if session is not None else None
        if session is None or slave is None or session.size is None:
            return
        columns, rows = session.size
        slave.resize(columns, max(rows - 1, 1))
        loop = asyncio.get_running_loop()
        self._cancel_redraw()
        now = loop.time()
        self._redraw_earliest = now + REDRAW_BUMP_SECONDS
        self._redraw_latest = now + REDRAW_WAIT_SECONDS
        self._redraw_restore = loop.call_at(self._redraw_latest, self._restore_size)

    def _redraw_drawing(self) -> None:
        """The program printed while the terminal is one row smaller: the real size comes
        back once it has been quiet a moment (within the bump's bounds)."""
        self._cancel_redraw()
        loop = asyncio.get_running_loop()
        when = max(loop.time() + REDRAW_QUIET_SECONDS, self._redraw_earliest)
        self._redraw_restore = loop.call_at(min(when, self._redraw_latest),
                                            self._restore_size)

    def _restore_size(self) -> None:
        self._redraw_restore = None
        resize, self._resize_after_redraw = self._resize_after_redraw, None
        session = self.session
        slave = session.slave if session is not None else None
        if session is None or slave is None or session.state is not State.RUNNING:
            return
        if resize is not None:
            # The session's own resize path. What it may return is input flow control's
            # wait before the client's next frame is read: the hub holds no frame back.
            pending = session.receive(resize, binary=False)
            if inspect.iscoroutine(pending):
                pending.close()
        if session.size is not None:  # also when a fixed --width/--height ignored that one
            slave.resize(*session.size)

    def _note(self, event: AttachEvent, role: Role, peer: Peer, detail: str) -> None:
        session = self.session
        who = peer.who
        if session is None:
            return
        log.info("Session %s: %s %s %s%s", session.id, event, role, who,
                 f": {detail}" if detail else "", extra=session.log_fields)
        note = AttachNote(event=event, role=role.value, who=who, remote_addr=peer.remote_addr,
                          detail=detail)
        for listener in self._listeners:
            try:
                listener.on_attach(session, note)
            except Exception:
                log.exception("session observer %s.on_attach failed", type(listener).__name__)

    # --- the grace period ----------------------------------------------------------------------

    def _expire(self, grace: int) -> None:
        self._grace = None
        if self.session is not None and self.owner is None:
            self.session.abort(EndCause.DETACH_EXPIRED,
                               f"detached for {grace} s without the page resuming",
                               CloseCode.GOING_AWAY)

    def _cancel_grace(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def _cancel_redraw(self) -> None:
        if self._redraw_restore is not None:
            self._redraw_restore.cancel()
            self._redraw_restore = None

    def _id(self) -> str:
        return self.session.id if self.session is not None else "?"

    # --- the session's life --------------------------------------------------------------------

    def bind(self, session: Session) -> None:
        """The grant has decided: the owner is now known by the session's user."""
        self.session = session
        facts = session.facts
        self.moderated = facts is not None and facts.claims.get("moderated") is True
        if facts is not None and facts.user is not None and self.owner is not None:
            owner = self.owner
            self.owner = self._owner_peer = Peer(owner.master, owner.drop, facts.user,
                                                 owner.remote_addr)

    def started(self) -> None:
        session = self.session
        assert session is not None
        self.directory.add(session.id, self)
        asyncio.get_running_loop().call_soon(self._after_start)

    def _after_start(self) -> None:
        if self._closed:
            return
        self._announce_owner()
        if self.moderated or self.guests:
            self._tell_watchers()

    def ended(self) -> None:
        session = self.session
        self._closed = True
        self._cancel_grace()
        self._cancel_redraw()
        if session is not None:
            self.directory.remove(session.id)
        for guest in list(self.guests):
            self._forget(guest)


class _HubObserver(SessionObserver):
    def __init__(self, hub: SharedMaster) -> None:
        self._hub = hub

    async def before_spawn(self, session: Session) -> None:
        hub = self._hub
        hub.bind(session)
        if hub.moderated and hub.settings.max_observers == 0:
            raise Refused(MODERATED_WITHOUT_SHARING)

    def on_start(self, session: Session) -> None:
        self._hub.started()

    async def on_end(self, session: Session, end: SessionEnd) -> None:
        self._hub.ended()
