"""The `/ws` endpoint: admission (auth, origin, limits), then one Session per connection.

Rules of this module: it turns HTTP and WebSocket events into calls on the session and
knows nothing of the wire format. All refusals happen before the upgrade and get an HTTP
status with a plain-text reason; once upgraded, the session decides and closes with a
WebSocket close frame. Until its session has started, a connection is unauthenticated: it
holds a `Handshake` of its address (`handshakes.py`, asked before anything else) and may
send messages of at most `--init-message-limit` bytes, checked by Tornado at each frame's
header, before its payload is read; a bigger one ends the session with 1009 and one log
line. Only a started session may send up to `MAX_MESSAGE_SIZE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import math
import re
import socket
import struct
import termios
import urllib.parse
from collections.abc import Awaitable
from typing import Any, assert_never

import tornado.web
import tornado.websocket
from tornado.websocket import WebSocketClosedError, WebSocketProtocol, WebSocketProtocol13

from ..webtty.protocol import CloseCode, InitMessage
from ..webtty.session import Refused, Session
from ..webtty.sharing import Peer, SharedMaster
from ..webtty.state import Disconnect, EndCause, State, Undelivered
from .admission import Slot
from .auth_proxy import AuthProxyRefused
from .delivery import TICK, DeliveryWatch, Liveness, Verdict, frame_size
from .fetch_metadata import websocket_refused
from .grant import ClientInfo
from .handlers import (
    HOST_REFUSED,
    NoRequestBody,
    TokenSafeLogging,
    host_refused_detail,
    refuse_request_body,
    require_basic_auth,
)
from .handshakes import Handshake, HandshakeRefused
from .joins import Attached, Joins
from .limits import MAX_MESSAGE_SIZE
from .refusals import ConnectionRefusal
from .site import Site

log = logging.getLogger("gotty_py.server")

HIGH_WATER_MARK = 1024 * 1024  # output bytes in the stream at which the PTY is no longer read
LOW_WATER_MARK = 256 * 1024


class _RawTextProtocol(WebSocketProtocol13):
    """Hands text frames to the handler as bytes, without UTF-8 validation.

    GoTTY's gorilla server does not validate text frames, and gotty-client sends raw stdin
    in 128-byte pieces that can split a UTF-8 character; Tornado would abort those
    connections. This overrides one private method of the pinned Tornado version; the test
    `test_invalid_utf8_input_reaches_pty` guards it.
    """

    def _handle_message(self, opcode: int, data: bytes) -> asyncio.Future[None] | None:
        if opcode == 0x1 and not self.client_terminated and not self._frame_compressed:
            self._message_bytes_in += len(data)
            handler = self.handler
            assert isinstance(handler, TermSocketHandler)
            return self._run_callback(handler.on_text_frame, data)
        return super()._handle_message(opcode, data)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Tornado closes with 1009 when a frame's header announces more than the limit,
        before reading its payload: the handler ends the session for that reason."""
        if code == CloseCode.TOO_BIG and not self.server_terminated:
            handler = self.handler
            if isinstance(handler, TermSocketHandler):
                handler.message_too_big()
        super().close(code, reason)


class WebSocketMaster:
    """The session's view of the connection: output flow control, delivery and liveness.

    Tornado resolves a write's future once the bytes are handed to the kernel; counting the
    unresolved bytes gives the stream's backlog without touching private state, and the
    kernel's unacknowledged bytes (`TIOCOUTQ`) give the rest of what the client has not
    got. A `DeliveryWatch` samples both: it sends the pings, drops a client that stopped
    reading or answering, and holds a close back until the output before it has arrived, so
    that Tornado's close timer (5 s, then the stream is aborted) never runs while a slow
    client is still reading its last output.
    """

    def __init__(self, handler: TermSocketHandler, liveness: Liveness) -> None:
        self._handler = handler
        self._loop = asyncio.get_running_loop()
        self.watch = DeliveryWatch(liveness, self._loop.time())
        self._drained = asyncio.Event()
        self._drained.set()
        self.closed = False  # no frame is sent any more: closing, or the connection is gone
        self._close_frame: tuple[int, str] | None = None
        self._delivery: asyncio.Future[Undelivered | None] = self._loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._sample_in(self.watch.next_sample(self._loop.time()))

    def send(self, frame: str) -> None:
        if self.closed:
            return
        try:
            future = self._handler.write_message(frame)
        except WebSocketClosedError:
            self.connection_lost()
            return
        size = frame_size(len(frame) if frame.isascii() else len(frame.encode("utf-8")))
        watch = self.watch
        watch.frame_queued(size)
        if watch.buffered >= HIGH_WATER_MARK:
            self._drained.clear()
        future.add_done_callback(lambda f: self._sent(f, size))
        self._sample_in(TICK)

    def _sent(self, future: asyncio.Future[None], size: int) -> None:
        if not future.cancelled():
            future.exception()  # retrieved: a closed stream is handled by on_close
        self.watch.frame_written(size)
        if self.watch.buffered <= LOW_WATER_MARK:
            self._drained.set()

    async def drain(self) -> None:
        await self._drained.wait()

    def close(self, code: int, reason: str, *, flush: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        self._drained.set()
        if not flush:
            self._send_close(code, reason)
            return
        self._close_frame = (code, reason)
        self.watch.closing = True
        self._sample()  # at once when nothing is owed: the usual case

    async def delivery(self) -> Undelivered | None:
        return await asyncio.shield(self._delivery)

    def pong(self) -> None:
        self.watch.pong()

    def connection_lost(self) -> None:
        self.closed = True
        self._drained.set()
        self._cancel_timer()
        if not self._delivery.done():
            # Gone before the close frame went out (the client closed or vanished): what it
            # missed of the output matters only if it stopped reading, which the watch
            # decides; otherwise the client left of its own accord.
            self._delivery.set_result(None)

    # --- sampling --------------------------------------------------------------------------

    def _sample_in(self, delay: float) -> None:
        if self._delivery.done() or delay == math.inf:
            return
        when = self._loop.time() + delay
        if self._timer is not None:
            if self._timer.when() <= when:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._sample)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sample(self) -> None:
        self._cancel_timer()
        if self._delivery.done():
            return
        now = self._loop.time()
        watch = self.watch
        verdict = watch.sample(now, unacknowledged(self._handler.socket()))
        match verdict:
            case Verdict.WAIT:
                pass
            case Verdict.PING:
                try:
                    self._handler.ping()
                except WebSocketClosedError:
                    self.connection_lost()
                    return
                watch.ping_sent(now)
            case Verdict.DELIVERED:
                assert self._close_frame is not None
                self._send_close(*self._close_frame)
                return
            case Verdict.STALLED:
                undelivered = Undelivered(watch.undelivered, watch.stalled_for(now))
                self._delivery.set_result(undelivered)
                self._handler.drop(undelivered.describe())
                return
            case Verdict.UNRESPONSIVE:
                self._handler.drop(f"no answer to a ping within "
                                   f"{watch.liveness.ping_timeout:g} s, dropped")
                return
            case _:
                assert_never(verdict)
        self._sample_in(watch.next_sample(now))

    def _send_close(self, code: int, reason: str) -> None:
        """The close frame now, behind whatever is still queued; Tornado's close timer runs
        from here (the client answers, or the stream is aborted 5 s later)."""
        self._cancel_timer()
        if not self._delivery.done():
            self._delivery.set_result(None)
        self._handler.close(code, reason)


def unacknowledged(sock: socket.socket | None) -> int:
    """Bytes the kernel holds that the peer has not acknowledged (Linux `TIOCOUTQ`); 0 when
    it cannot tell (another system, a closed socket)."""
    if sock is None:
        return 0
    try:
        fd = sock.fileno()
        if fd < 0:
            return 0
        value: int = struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]
    except (OSError, ValueError):
        return 0
    return value


@tornado.web.stream_request_body
class TermSocketHandler(NoRequestBody, TokenSafeLogging, tornado.websocket.WebSocketHandler):
    """One browser terminal connection."""

    site: Site

    def initialize(self, site: Site) -> None:
        self.site = site
        self.handshake: Handshake | None = None
        self.slot: Slot | None = None
        self.session: Session | None = None
        self.master: WebSocketMaster | None = None
        self._init_deadline: asyncio.TimerHandle | None = None
        self._remote_addr: str | None = None
        self._proxy_user: str | None = None  # named by the authenticating proxy
        # Where a resume or join init attached this connection (server/joins.py).
        self.attached: Attached | None = None
        self._client: ClientInfo | None = None

    def set_default_headers(self) -> None:
        self.clear_header("Server")  # GoTTY's /ws carries no Server header

    # --- admission -----------------------------------------------------------------------

    def _origin_allowed(self) -> bool:
        origin = self.request.headers.get("Origin")
        pattern = self.site.ws_origin
        if pattern is not None:
            return re.search(pattern, origin or "") is not None
        if origin is None:
            return True
        try:
            netloc = urllib.parse.urlsplit(origin).netloc.lower()
        except ValueError:  # e.g. "http://[": a broken IPv6 literal is no origin of ours
            return False
        return netloc == self.request.headers.get("Host", "").lower()

    def _refuse(self, reason: ConnectionRefusal, status: int, text: str,
                detail: str | None = None, *, logged: bool = False) -> None:
        """Answer `status` with `text`, counted; one log line (with `detail` if given)
        unless the caller has `logged` it already."""
        client = self.remote_addr()
        if not logged:
            log.info("Refused WebSocket from %s: %s", client, detail or text,
                     extra={"client": client})
        self.site.refusals.refused(reason)
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(text + "\n")

    def prepare(self) -> None:
        if refuse_request_body(self):
            self.site.refusals.refused(ConnectionRefusal.REQUEST_BODY)

    async def get(self, *args: Any, **kwargs: Any) -> None:
        handshake = self.site.handshakes.admit(self.site.client_host(self.request))
        if isinstance(handshake, HandshakeRefused):
            self.set_header("Retry-After", str(handshake.retry_after))
            self._refuse(handshake.reason, 429, handshake.text, logged=True)  # it logs
            return
        self.handshake = handshake
        try:
            await self._get(*args, **kwargs)
        finally:
            if self.session is None:
                handshake.release()

    async def _get(self, *args: Any, **kwargs: Any) -> None:
        admission = self.site.admission
        host = self.request.headers.get("Host")
        if not self.site.hosts.allows(host):
            # Before Basic auth: a rebinding page learns nothing, not even the realm.
            self._refuse(ConnectionRefusal.HOST, 403, HOST_REFUSED, host_refused_detail(host))
            return
        proxied = self.site.proxy_user(self.request)
        if isinstance(proxied, AuthProxyRefused):
            self._refuse(proxied.reason, 403, proxied.text, proxied.detail)
            return
        self._proxy_user = proxied
        if not require_basic_auth(self, self.site):
            self.site.refusals.refused(ConnectionRefusal.BASIC_AUTH)
            return
        if not self._origin_allowed():
            self._refuse(ConnectionRefusal.ORIGIN, 403, "Forbidden: origin not allowed")
            return
        fetched_by = websocket_refused(self.request.headers.get("Sec-Fetch-Site"),
                                       origin_pattern_matched=self.site.ws_origin is not None)
        if fetched_by is not None:
            self._refuse(ConnectionRefusal.FETCH_SITE, 403,
                         "Forbidden: WebSocket opened by another site's page",
                         f"Sec-Fetch-Site: {fetched_by} for /ws")
            return
        refusal = admission.check()
        if refusal is not None:
            self._refuse(refusal[0], 503, refusal[1])
            return
        self.slot = admission.admit(self.remote_addr(), self._hang_up, self._session_started)
        try:
            await super().get(*args, **kwargs)
        finally:
            if self.session is None:  # the upgrade failed: no session will release the slot
                admission.release(self.slot, None)

    def _hang_up(self) -> None:
        self.close(1001, "server shutting down")

    def _session_started(self) -> None:
        """Authenticated: pastes may be large now, and the address's handshake is done."""
        if self.ws_connection is not None and isinstance(self.ws_connection, _RawTextProtocol):
            self.ws_connection.params.max_message_size = MAX_MESSAGE_SIZE
        if self.handshake is not None:
            self.handshake.release()

    def message_too_big(self) -> None:
        """A frame announced more than the limit; Tornado closes with 1009 unread."""
        session = self.session
        if session is None:
            return
        started = session.state not in (State.INIT, State.STARTING)
        limit = (f"{MAX_MESSAGE_SIZE} bytes" if started
                 else f"--init-message-limit ({self.site.init_message_limit} bytes)")
        detail = f"message too big: over {limit}"
        if not started:
            client = self.remote_addr()
            log.warning("Refused WebSocket from %s: a message over %s before its session "
                        "started", client, limit, extra={"client": client})
        session.abort(EndCause.PROTOCOL_ERROR, detail, CloseCode.TOO_BIG)

    def check_origin(self, origin: str) -> bool:
        return True  # decided in get(), with GoTTY's rules

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return "webtty" if "webtty" in subprotocols else None

    def get_compression_options(self) -> dict[str, Any] | None:
        return None  # GoTTY never negotiates permessage-deflate

    def get_websocket_protocol(self) -> WebSocketProtocol | None:
        protocol = super().get_websocket_protocol()
        if not isinstance(protocol, WebSocketProtocol13):
            return protocol
        protocol.params.max_message_size = self.site.init_message_limit  # until started
        return _RawTextProtocol(self, False, protocol.params)

    # --- connection events ---------------------------------------------------------------

    def open(self, *args: str, **kwargs: str) -> None:
        self.set_nodelay(True)
        assert self.slot is not None
        self.master = WebSocketMaster(self, self.site.liveness)
        client = ClientInfo(remote_addr=self.slot.remote_addr, headers=self.request.headers,
                            proxy_user=self._proxy_user)
        self._client = client
        self.session = self.site.open_session(self.master, client, self.slot, self.drop)
        deadline = self.site.init_timeout
        if deadline > 0:
            loop = asyncio.get_running_loop()
            self._init_deadline = loop.call_later(deadline, self._init_overdue, deadline)

    def _init_overdue(self, seconds: int) -> None:
        """A client that never sends its init holds a slot; GoTTY waits for it forever."""
        if self.session is not None and self.session.state is State.INIT:
            self.session.abort(EndCause.INIT_TIMEOUT, f"no init message within {seconds} s",
                               CloseCode.POLICY_VIOLATION)

    def on_text_frame(self, data: bytes) -> Awaitable[None] | None:
        """Tornado reads the next frame only once a returned awaitable completes."""
        if self.attached is not None or self.site.joins is not None:
            return self._shared_frame(data)
        if self.session is not None:
            return self.session.receive(data, binary=False)
        return None

    def _shared_frame(self, data: bytes) -> Awaitable[None] | None:
        """With resume or sharing: an init may attach this connection to a running
        session; a guest's frames go to its hub; the owner's pass the hub first."""
        attached = self.attached
        if attached is not None:
            if attached.guest is not None:
                attached.hub.guest_frame(attached.guest, data)
                return None
            session = attached.hub.session
        else:
            session = self.session
            if session is not None and session.state is State.INIT and self.site.joins:
                init = Joins.wanted(data)
                if init is not None:
                    return self._attach(self.site.joins, session, init)
        if session is None:
            return None
        hub = session.master
        if isinstance(hub, SharedMaster) and hub.intercept(data):
            return None
        return session.receive(data, binary=False)

    async def _attach(self, joins: Joins, session: Session, init: InitMessage) -> None:
        """Resume or join: this connection's own session never starts (it is handed over);
        a refusal ends it as refused, with the reason for the page."""
        assert self.master is not None and self._client is not None
        client = self.remote_addr()
        peer = Peer(self.master, self.drop, self._proxy_user or client, client)
        try:
            attached = await joins.attach(init, peer, self._client)
        except Refused as exc:
            log.info("Refused %s from %s: %s", "resume" if init.resume else "join", client,
                     exc, extra={"client": client})
            session.abort(EndCause.REFUSED, str(exc), CloseCode.POLICY_VIOLATION)
            return
        if session.state is not State.INIT:  # ended meanwhile (the init deadline)
            if attached.guest is not None:
                attached.hub.guest_left(attached.guest, "connection ended while joining")
            else:
                attached.hub.owner_lost(self.master, Disconnect.LOST)
            return
        self.attached = attached
        target = attached.hub.session
        role = attached.guest.role if attached.guest is not None else "owner"
        session.hand_over(f"attached to session {target.id if target else '?'} as {role}")
        self._session_started()

    def on_message(self, message: str | bytes) -> None:
        if self.session is not None:
            data = message.encode("utf-8") if isinstance(message, str) else message
            self.session.receive(data, binary=True)

    def on_close(self) -> None:
        if self.handshake is not None:
            self.handshake.release()
        if self._init_deadline is not None:
            self._init_deadline.cancel()
        if self.master is not None:
            self.master.connection_lost()
        # A close frame carries a code; a dropped connection or a missed ping does not.
        how = Disconnect.CLOSED if self.close_code is not None else Disconnect.LOST
        session = self.session
        attached = self.attached
        if attached is not None:
            if attached.guest is not None:
                attached.hub.guest_left(attached.guest)
                return
            session = attached.hub.session
        if session is not None:
            hub = session.master
            if (isinstance(hub, SharedMaster) and self.master is not None
                    and hub.owner_lost(self.master, how)):
                return  # detached (the page may resume), or an old connection of it
            session.client_closed(how)

    def on_ping(self, data: bytes) -> None:
        pass

    def on_pong(self, data: bytes) -> None:
        if self.master is not None:
            self.master.pong()

    def socket(self) -> socket.socket | None:
        """The connection's socket, for the kernel's view of what is still unsent."""
        connection = self.ws_connection
        stream = getattr(connection, "stream", None) if connection is not None else None
        sock = getattr(stream, "socket", None)
        return sock if isinstance(sock, socket.socket) else None

    def drop(self, why: str) -> None:
        """End the connection now, without a close handshake: the client is not reading.

        SO_LINGER 0 makes the kernel reset the connection and free its send buffer (up to
        megabytes of output) at once, instead of retrying it to a peer that never reads."""
        client = self.remote_addr()
        log.warning("WebSocket from %s: %s", client, why,
                    extra=self.session.log_fields if self.session else {"client": client})
        sock = self.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection = self.ws_connection
        stream = getattr(connection, "stream", None) if connection is not None else None
        if stream is not None:
            stream.close()

    def remote_addr(self) -> str:
        """The client: the TCP peer, or whom a trusted proxy forwarded for (once here)."""
        if self._remote_addr is None:
            self._remote_addr = self.site.client_address(self.request)
        return self._remote_addr

