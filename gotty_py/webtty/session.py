"""One webtty session: joins one client connection to one backend process.

Rules of this module: it speaks the protocol (through `protocol`) and runs the two pumps,
but knows nothing of Tornado or of PTYs. It sees the connection as a `Master` (sends text
frames, closes with a code and reason) and the process as a `Slave` (reads, writes,
resizes, ends) started by the `Backend` it was given; the grant and the observers are its
`SessionPlugins`, fixed at construction. Every way a session can end goes through
`_finish`, exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..backend.base import Backend, Slave, SlaveInfo, StartFailed, StartRefused, StartRequest
from ..facts import SessionFacts, Target
from . import protocol
from .protocol import CloseCode, InitMessage, ProtocolError
from .state import (
    AttachNote,
    Disconnect,
    EndCause,
    SessionEnd,
    State,
    Undelivered,
    advance,
    describe_exit,
)

log = logging.getLogger("gotty_py.session")


class Master(Protocol):
    """The client side of a session (a WebSocket connection)."""

    def send(self, frame: str) -> None: ...

    async def drain(self) -> None:
        """Return once the client's unsent output is below the low-water mark."""

    def close(self, code: int, reason: str, *, flush: bool = True) -> None:
        """Close with `code` and `reason` once the output sent before has reached the client
        (`flush`), or at once, behind it, whatever is left (False: a server shutdown)."""

    async def delivery(self) -> Undelivered | None:
        """Once the connection is closed or closing: None when the client got every frame
        sent, else what it left unread when it was dropped for not reading."""


class Refused(Exception):
    """Authorization refused a session; the text is the close reason shown to the user."""


@dataclass(frozen=True)
class Launch:
    """What authorization decided for one session: what runs, for whom, with what rights."""

    argv: tuple[str, ...]  # the whole command line, the command first
    permit_write: bool = False
    user: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    target: Target | None = None
    # Extra environment for the command (--pass-headers' HTTP_* variables).
    env: Mapping[str, str] = field(default_factory=dict)
    # More facts for the page's session-info message (gotty-py clients only).
    info: Mapping[str, Any] = field(default_factory=dict)


Authorizer = Callable[[InitMessage], Awaitable[Launch]]
# The terminal's size until the client's first resize (GoTTY: 0x0).
DEFAULT_SIZE = (80, 24)
# Input messages larger than this are decoded and written in pieces of this size, with the
# event loop served between them: a 48 MiB paste must not stall every other session.
INPUT_PIECE = 256 * 1024
# How long a session of our page (init `GottyPy`) waits for the page's first resize before
# it starts at the default size. The page sends it right after the init, but it can arrive
# a moment later (another TCP segment, a proxy); the process and the recording's header
# would then start at 80x24 and be resized at once. Bounded, so a client that never sends
# a size still starts (docs/audit.md, "The recording").
FIRST_RESIZE_WAIT = 0.2


@dataclass(frozen=True)
class SessionSettings:
    """The per-server knobs a session needs; built by the server from Options."""

    # The window title from the session's facts and its process's title variables.
    render_title: Callable[[SessionFacts, Mapping[str, Any]], str]
    hostname: str = ""
    width: int = 0
    height: int = 0
    reconnect_seconds: int | None = None
    preferences: Mapping[str, Any] = field(default_factory=dict)
    # Seconds without input from the client, and seconds of running, after which the
    # session is ended (--idle-timeout, --max-session-time); 0: never.
    idle_timeout: int = 0
    max_session_time: int = 0


class SessionObserver:
    """Hooks for audit and accounting; the default does nothing."""

    async def before_spawn(self, session: Session) -> None:
        """The grant has allowed the session and `session.facts` is known; nothing runs yet.

        Raising `Refused` refuses the session (close 1008 with the text as reason) and
        nothing is started: a required recording is opened here, so that it fails closed.
        """

    def on_start(self, session: Session) -> None:
        pass

    def session_info(self) -> Mapping[str, Any]:
        """Fields for the page's session-info message, asked once after every `on_start`
        (the audit plugin's `recorded`, true only once its recording is open)."""
        return {}

    def on_output(self, data: bytes) -> None:
        pass

    def on_input(self, data: bytes) -> None:
        pass

    def on_resize(self, columns: int, rows: int) -> None:
        pass

    def output_backlog(self) -> Awaitable[None] | None:
        """An awaitable while the observer is behind with output (the pump waits), else None.

        Lets a slow consumer (the audit writer) apply backpressure like a slow client does:
        the PTY is not read meanwhile, so the command blocks instead of output being dropped.
        """
        return None

    async def on_end(self, session: Session, end: SessionEnd) -> None:
        """The session has ended and its process is gone; `session.wait()` returns after
        every observer's `on_end` did."""

    def on_attach(self, session: Session, note: AttachNote) -> None:
        """A client detached from, reattached to, joined or left the running session
        (webtty/sharing.py tells the observers it was given)."""


@dataclass(frozen=True)
class SessionPlugins:
    """What a session is built with besides its connection and backend; fixed at
    construction.

    `grant` decides whether and how the session runs. The `observers` see it in this order:
    each one's `before_spawn` may refuse it (the first refusal wins), and every hook,
    `on_end` included, reaches them in the same order.
    """

    grant: Authorizer
    observers: tuple[SessionObserver, ...] = ()


class _Observers:
    """The plugins' observers as one.

    A hook that raises is a bug; it is logged with its traceback and ends the session as an
    internal error (`fail`), so that audit data is never lost silently while the session
    goes on. An `on_end` that raises is logged and the others still see the end.
    """

    def __init__(self, observers: tuple[SessionObserver, ...], fail: Callable[[], None]) -> None:
        self._observers = observers
        self._fail = fail

    def _failed(self, observer: SessionObserver, hook: str) -> None:
        log.exception("session observer %s.%s failed", type(observer).__name__, hook)
        self._fail()

    async def before_spawn(self, session: Session) -> None:
        for observer in self._observers:  # in order; the first refusal stops the rest
            await observer.before_spawn(session)

    def on_start(self, session: Session) -> None:
        for observer in self._observers:
            try:
                observer.on_start(session)
            except Exception:
                self._failed(observer, "on_start")

    def session_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {}
        for observer in self._observers:
            try:
                info.update(observer.session_info())
            except Exception:
                self._failed(observer, "session_info")
        return info

    def on_output(self, data: bytes) -> None:
        for observer in self._observers:
            try:
                observer.on_output(data)
            except Exception:
                self._failed(observer, "on_output")

    def on_input(self, data: bytes) -> None:
        for observer in self._observers:
            try:
                observer.on_input(data)
            except Exception:
                self._failed(observer, "on_input")

    def on_resize(self, columns: int, rows: int) -> None:
        for observer in self._observers:
            try:
                observer.on_resize(columns, rows)
            except Exception:
                self._failed(observer, "on_resize")

    def output_backlog(self) -> Awaitable[None] | None:
        waits: list[Awaitable[None]] = []
        for observer in self._observers:
            try:
                wait = observer.output_backlog()
            except Exception:
                self._failed(observer, "output_backlog")
                continue
            if wait is not None:
                waits.append(wait)
        if not waits:
            return None
        if len(waits) == 1:
            return waits[0]
        return _wait_all(waits)

    async def on_end(self, session: Session, end: SessionEnd) -> None:
        for observer in self._observers:
            try:
                await observer.on_end(session, end)
            except Exception:
                log.exception("session observer %s.on_end failed", type(observer).__name__)


class _Limits:
    """A running session's two clocks: time since the client's last input, and time since
    the start. One timer each; a keystroke only notes the time (no timer is rescheduled per
    frame), and the idle timer, when it fires early, waits for what is left.

    Pings and resizes are not input: the page pings every 30 s and a resize is no sign that
    anyone is there. Input a read-only client sends counts (it came from a person), even
    though it is not written.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._idle = 0
        self._last_input = 0.0
        self._timers: list[asyncio.TimerHandle] = []

    def arm(self, idle: int, lifetime: int) -> None:
        loop = asyncio.get_running_loop()
        self._last_input = loop.time()
        if idle > 0:
            self._idle = idle
            self._timers.append(loop.call_later(idle, self._check_idle))
        if lifetime > 0:
            self._timers.append(loop.call_later(lifetime, self._end, EndCause.TIME_LIMIT,
                                                f"session time limit of {lifetime} s reached"))

    def input_seen(self) -> None:
        if self._idle:
            self._last_input = asyncio.get_running_loop().time()

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _check_idle(self) -> None:
        loop = asyncio.get_running_loop()
        left = self._last_input + self._idle - loop.time()
        if left > 0:
            self._timers.append(loop.call_later(left, self._check_idle))
            return
        self._end(EndCause.IDLE_TIMEOUT, f"idle for {self._idle} s (no input)")

    def _end(self, cause: EndCause, detail: str) -> None:
        # 1008: a limit of this server's, like a refusal; the page shows the reason and,
        # unlike after 1000, does not reconnect (an unattended tab must not reopen sessions).
        self._session.abort(cause, detail, CloseCode.POLICY_VIOLATION)


async def _wait_all(waits: list[Awaitable[None]]) -> None:
    for wait in waits:
        await wait


class Session:
    """The state machine: waiting for init -> starting -> running -> ended."""

    def __init__(
        self,
        master: Master,
        settings: SessionSettings,
        backend: Backend,
        plugins: SessionPlugins,
        *,
        remote_addr: str = "",
        user_agent: str | None = None,
    ) -> None:
        self.id = secrets.token_hex(8)
        self.remote_addr = remote_addr
        self.user_agent = user_agent
        self.started_at = time.time()
        self.master = master
        self.settings = settings
        self._authorize = plugins.grant
        self._backend = backend
        self._observers = _Observers(plugins.observers, self._internal_error)
        self.slave: Slave | None = None
        self.slave_info: SlaveInfo | None = None  # what the backend said it started
        self.launch: Launch | None = None
        # Known once the grant has decided, before anything is spawned; then never changed.
        self.facts: SessionFacts | None = None
        self.title: str | None = None  # the window title, rendered once at start
        self.init: InitMessage | None = None
        self.end: SessionEnd | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        # What this session's log lines carry (`extra=`, gotty_py.logformat): made here and
        # once more when the grant has named the user; never rebuilt per line.
        self.log_fields: Mapping[str, str] = {"session": self.id, "client": remote_addr}
        # The terminal's size now (columns, rows); None until the session starts.
        self.size: tuple[int, int] | None = None
        self._decoder = protocol.ClientFrameDecoder()
        self._pending: list[bytes] = []
        self._resize_queued = asyncio.Event()  # a resize is in _pending (or the session ended)
        self._state = State.INIT
        self._done = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[None]] = set()
        self._starter: asyncio.Task[None] | None = None
        self._limits = _Limits(self)

    @property
    def state(self) -> State:
        return self._state

    def _ended(self) -> bool:
        # A method, not a comparison: mypy would carry a narrowed state across an await.
        return self._state is State.ENDED

    # --- events from the server ----------------------------------------------------------

    def receive(self, frame: bytes, *, binary: bool) -> Awaitable[None] | None:
        """A frame from the client. Binary frames end the session only as the init.

        Returns an awaitable when the process is not keeping up with the input: the server
        reads no further frames until it completes (input flow control, nothing dropped).
        """
        if self._state is State.INIT:
            if binary:
                self._start_task(self._finish(EndCause.PROTOCOL_ERROR,
                                              "init message must be text",
                                              CloseCode.PROTOCOL_ERROR))
                return None
            self._state = advance(self._state, State.STARTING)
            self._starter = self._start_task(self._start(frame))
            return None
        if binary or self._ended():
            return None
        if self._state is State.STARTING:
            # Nothing is read from the client until the process has started (or failed).
            self._pending.append(frame)
            if frame[:1] == bytes([protocol.RESIZE_TERMINAL]):
                self._resize_queued.set()
            return self._started() if len(self._pending) > 64 else None
        if len(frame) > INPUT_PIECE and frame[:1] == bytes([protocol.INPUT]):
            return self._start_task(self._write_in_pieces(frame))  # no frame read meanwhile
        self._handle(frame)
        slave = self.slave
        if slave is not None and slave.input_backlogged and self._state is State.RUNNING:
            return slave.drain_input()
        return None

    def client_closed(self, how: Disconnect = Disconnect.CLOSED) -> None:
        self._start_task(self._finish(EndCause.CLIENT_CLOSED, how.value, None, disconnect=how))

    def shutdown(self) -> None:
        self._start_task(self._finish(EndCause.SHUTDOWN, "server shutting down",
                                      CloseCode.GOING_AWAY, flush=False))

    def abort(self, cause: EndCause, detail: str, code: int, *,
              ended_by: str | None = None) -> None:
        """End the session for a reason decided outside it (an init deadline, a limit, an
        administrator: `ended_by` names who, for the end's record)."""
        self._start_task(self._finish(cause, detail, code, ended_by=ended_by))

    def hand_over(self, detail: str) -> None:
        """Before its init, this connection was attached to another, running session (a
        resume or a join, webtty/sharing.py): this session never starts, and no observer
        sees it (nothing was granted or run; the other session's observers are told who
        attached). `wait()` returns at once."""
        self._state = advance(self._state, State.ENDED)
        self.end = SessionEnd(cause=EndCause.HANDED_OVER, detail=detail)
        if not self._done.done():
            self._done.set_result(self.end)

    async def _started(self) -> None:
        if self._starter is not None:
            await asyncio.wait([self._starter])

    async def wait(self) -> SessionEnd:
        """Wait until the session has ended and its process has been reaped."""
        return await asyncio.shield(self._done)

    # --- internals -----------------------------------------------------------------------

    def _start_task(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("session task failed", exc_info=task.exception())
            self._internal_error()

    def _internal_error(self) -> None:
        """A bug (logged by the caller) ends the session; its process is ended too."""
        if not self._ended():
            self._start_task(self._finish(EndCause.INTERNAL_ERROR, "internal error",
                                          CloseCode.INTERNAL_ERROR))

    async def _start(self, frame: bytes) -> None:
        try:
            self.init = protocol.parse_init(frame)
            launch = self.launch = await self._authorize(self.init)
            if self._ended():
                return
            await self._first_resize(self.init)
            if self._ended():
                return
            facts = self.facts = self._facts(launch)
            if facts.user is not None:
                self.log_fields = {**self.log_fields, "user": facts.user}
            self.size = facts.size
            await self._observers.before_spawn(self)  # the grant or a check may refuse
        except ProtocolError as exc:
            await self._finish(EndCause.PROTOCOL_ERROR, str(exc), CloseCode.PROTOCOL_ERROR)
            return
        except Refused as exc:
            await self._finish(EndCause.REFUSED, str(exc), CloseCode.POLICY_VIOLATION)
            return
        if self._ended():
            return
        try:
            slave = await self._backend.start(StartRequest(facts, launch.env))
        except StartRefused as exc:  # the backend's policy, like a grant's refusal
            log.warning("Refused session for %s: %s", self.remote_addr, exc,
                        extra=self.log_fields)
            await self._finish(EndCause.REFUSED, str(exc), CloseCode.POLICY_VIOLATION)
            return
        except StartFailed as exc:
            log.warning("Failed to start command for %s: %s", self.remote_addr, exc,
                        extra=self.log_fields)
            await self._finish(EndCause.START_FAILED, f"failed to start command: {exc}",
                               CloseCode.INTERNAL_ERROR)
            return
        self.slave = slave
        self.slave_info = slave.describe()
        if self._ended():  # ended while spawning: _finish closes the process
            return
        self._state = advance(self._state, State.RUNNING)
        self._limits.arm(self.settings.idle_timeout, self.settings.max_session_time)
        self.title = self.settings.render_title(facts, self.slave_info.variables)
        self._observers.on_start(self)
        self._send_initial_frames()
        pending, self._pending = self._pending, []
        for queued in pending:
            self._handle(queued)
        if self._state is State.RUNNING:
            self._start_task(self._pump_output())

    def _send_initial_frames(self) -> None:
        """Title first, then S's buffer size, reconnect and preferences (GoTTY's order)."""
        assert self.launch is not None and self.title is not None
        self.master.send(protocol.encode_title(self.title))
        self.master.send(protocol.encode_buffer_size())
        if self.settings.reconnect_seconds is not None:
            self.master.send(protocol.encode_reconnect(self.settings.reconnect_seconds))
        if self.settings.preferences:
            self.master.send(protocol.encode_preferences(self.settings.preferences))
        if self.init is not None and self.init.gotty_py:
            self.master.send(protocol.encode_session_info(
                {**self.launch.info, **self._observers.session_info(),
                 "writable": self.launch.permit_write}))

    def _handle(self, frame: bytes) -> None:
        assert self.slave is not None and self.launch is not None
        try:
            event = self._decoder.decode(frame)
        except ProtocolError as exc:
            self._start_task(self._finish(EndCause.PROTOCOL_ERROR, str(exc),
                                          CloseCode.PROTOCOL_ERROR))
            return
        if isinstance(event, protocol.Input):
            self._limits.input_seen()
            if self.launch.permit_write and event.data:
                self.bytes_in += len(event.data)
                self._observers.on_input(event.data)
                self.slave.write(event.data)
        elif isinstance(event, protocol.Ping):
            self.master.send(protocol.encode_pong())
        elif isinstance(event, protocol.Resize):
            self._resize(event)

    async def _write_in_pieces(self, frame: bytes) -> None:
        """A large input message, a piece at a time; the process's input water marks
        apply between pieces, so at most about one high-water mark is queued for it."""
        assert self.slave is not None and self.launch is not None
        slave, writable = self.slave, self.launch.permit_write
        try:
            self._limits.input_seen()
            for data in self._decoder.input_chunks(frame, INPUT_PIECE):
                if self._state is not State.RUNNING:
                    return
                if writable and data:
                    self.bytes_in += len(data)
                    self._observers.on_input(data)
                    slave.write(data)
                if slave.input_backlogged:
                    await slave.drain_input()
                else:
                    await asyncio.sleep(0)
        except ProtocolError as exc:
            await self._finish(EndCause.PROTOCOL_ERROR, str(exc), CloseCode.PROTOCOL_ERROR)

    async def _first_resize(self, init: InitMessage) -> None:
        """Our page's first resize, so the process and its recording start at the page's
        size; at most FIRST_RESIZE_WAIT, and not at all for other clients (GoTTY's page and
        gotty-client may never send one) or when --width and --height fix the size."""
        if (not init.gotty_py or self._resize_queued.is_set()
                or (self.settings.width and self.settings.height)):
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._resize_queued.wait(), FIRST_RESIZE_WAIT)

    def _facts(self, launch: Launch) -> SessionFacts:
        return SessionFacts(
            id=self.id, started_at=self.started_at, remote_addr=self.remote_addr,
            user=launch.user, argv=launch.argv, size=self._initial_size(),
            writable=launch.permit_write, claims=launch.claims, user_agent=self.user_agent,
            hostname=self.settings.hostname, target=launch.target)

    def _initial_size(self) -> tuple[int, int]:
        """Columns and rows from the last well-formed resize already queued, else the
        default (with --width/--height each taking the place of its half).

        Starting at the client's size closes GoTTY's race where a command that reads its
        size at once sees the default (GoTTY: 0x0) because the resize came a moment later.
        """
        decoder = protocol.ClientFrameDecoder()
        size: tuple[int, int] | None = None
        for frame in self._pending:
            if frame[:1] != b"3":
                continue
            try:
                event = decoder.decode(frame)
            except ProtocolError:
                continue  # reported when the frame is handled for real
            if isinstance(event, protocol.Resize):
                size = self._effective_size(event)
        if size is None or 0 in size:
            return (self.settings.width or DEFAULT_SIZE[0],
                    self.settings.height or DEFAULT_SIZE[1])
        return size

    def _effective_size(self, event: protocol.Resize) -> tuple[int, int]:
        return (self.settings.width or event.columns, self.settings.height or event.rows)

    def _resize(self, event: protocol.Resize) -> None:
        """Fixed --width/--height win over the client; with both set resizes are moot."""
        assert self.slave is not None
        if self.settings.width and self.settings.height:
            return
        columns, rows = self._effective_size(event)
        self.slave.resize(columns, rows)
        self.size = (columns, rows)
        self._observers.on_resize(columns, rows)

    async def _pump_output(self) -> None:
        assert self.slave is not None
        while self._state is State.RUNNING:
            data = await self.slave.read()
            if not data:
                break
            if self._state is not State.RUNNING:
                # The session is ending for another reason; still account for what was read.
                self._observers.on_output(data)
                break
            self.bytes_out += len(data)
            self._observers.on_output(data)
            self.master.send(protocol.encode_output(data))
            await self.master.drain()
            backlog = self._observers.output_backlog()
            if backlog is not None:
                await backlog
            # A read that finds data does not suspend: yield once per chunk so that one
            # session printing flat out cannot starve the others' keystrokes.
            await asyncio.sleep(0)
        else:
            return
        if self._state is State.RUNNING:
            status = self.slave.exit_status
            await self._finish(EndCause.PROCESS_EXITED, describe_exit(status), CloseCode.NORMAL)

    async def _finish(self, cause: EndCause, detail: str, code: int | None, *,
                      disconnect: Disconnect | None = None, flush: bool = True,
                      ended_by: str | None = None) -> None:
        if self._ended():
            return
        self._state = advance(self._state, State.ENDED)
        self._limits.cancel()
        self._pending.clear()
        self._resize_queued.set()  # a start waiting for the first resize goes on (to end)
        if code is not None:
            # After the output already sent: "the last output is always delivered".
            self.master.close(code, protocol.close_reason(detail), flush=flush)
        starter = self._starter
        if starter is not None and starter is not asyncio.current_task() and not starter.done():
            # Let authorization or spawning finish so that a process started meanwhile is
            # ended and reaped before the session reports its end.
            await asyncio.wait([starter])
        slave = self.slave
        if slave is not None:
            await slave.close()
        # The end is known once the client has its output, or was dropped without it.
        undelivered = await self.master.delivery()
        if undelivered is not None:
            stalled = undelivered.describe()
            cause, detail, code, disconnect = (
                EndCause.CLIENT_STALLED,
                stalled if cause is EndCause.CLIENT_CLOSED else f"{detail}; {stalled}",
                None, None)
        self.end = SessionEnd(
            cause=cause,
            detail=detail,
            exit_status=slave.exit_status if slave is not None else None,
            close_code=code,
            disconnect=disconnect,
            undelivered=undelivered.bytes if undelivered is not None else None,
            ended_by=ended_by,
        )
        try:
            await self._observers.on_end(self, self.end)
        finally:
            if not self._done.done():
                self._done.set_result(self.end)
