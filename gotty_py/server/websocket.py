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
import logging
import re
import urllib.parse
from collections.abc import Awaitable
from typing import Any

import tornado.web
import tornado.websocket
from tornado.websocket import WebSocketClosedError, WebSocketProtocol, WebSocketProtocol13

from ..webtty.protocol import CloseCode
from ..webtty.session import Session
from ..webtty.state import Disconnect, EndCause, State
from .admission import Slot
from .grant import ClientInfo
from .handlers import NoRequestBody, TokenSafeLogging, refuse_request_body, require_basic_auth
from .handshakes import Handshake, HandshakeRefused
from .limits import MAX_MESSAGE_SIZE
from .refusals import ConnectionRefusal
from .site import Site

log = logging.getLogger("gotty_py.server")

HIGH_WATER_MARK = 1024 * 1024  # unsent output bytes at which the PTY is no longer read
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
    """The session's view of the connection, with output flow control.

    Tornado resolves a write's future once the bytes are handed to the kernel; counting the
    unresolved bytes gives the client's backlog without touching private state.
    """

    def __init__(self, handler: TermSocketHandler) -> None:
        self._handler = handler
        self._unsent = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self.closed = False

    def send(self, frame: str) -> None:
        if self.closed:
            return
        try:
            future = self._handler.write_message(frame)
        except WebSocketClosedError:
            self.connection_lost()
            return
        size = len(frame)
        self._unsent += size
        if self._unsent >= HIGH_WATER_MARK:
            self._drained.clear()
        future.add_done_callback(lambda f: self._sent(f, size))

    def _sent(self, future: asyncio.Future[None], size: int) -> None:
        if not future.cancelled():
            future.exception()  # retrieved: a closed stream is handled by on_close
        self._unsent -= size
        if self._unsent <= LOW_WATER_MARK:
            self._drained.set()

    async def drain(self) -> None:
        await self._drained.wait()

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self._handler.close(code, reason)
        self._drained.set()

    def connection_lost(self) -> None:
        self.closed = True
        self._drained.set()


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
        netloc = urllib.parse.urlsplit(origin).netloc.lower()
        return netloc == self.request.headers.get("Host", "").lower()

    def _refuse(self, reason: ConnectionRefusal, status: int, text: str, *,
                logged: bool = False) -> None:
        client = self.remote_addr()
        if not logged:
            log.info("Refused WebSocket from %s: %s", client, text, extra={"client": client})
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
        if not require_basic_auth(self, self.site):
            self.site.refusals.refused(ConnectionRefusal.BASIC_AUTH)
            return
        if not self._origin_allowed():
            self._refuse(ConnectionRefusal.ORIGIN, 403, "Forbidden: origin not allowed")
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
        self.master = WebSocketMaster(self)
        client = ClientInfo(remote_addr=self.slot.remote_addr, headers=self.request.headers)
        self.session = self.site.open_session(self.master, client, self.slot)
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
        if self.session is not None:
            return self.session.receive(data, binary=False)
        return None

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
        if self.session is not None:
            # A close frame carries a code; a dropped connection or a missed ping does not.
            self.session.client_closed(Disconnect.CLOSED if self.close_code is not None
                                       else Disconnect.LOST)

    def on_ping(self, data: bytes) -> None:
        pass

    def remote_addr(self) -> str:
        """The client: the TCP peer, or whom a trusted proxy forwarded for (once here)."""
        if self._remote_addr is None:
            self._remote_addr = self.site.client_address(self.request)
        return self._remote_addr

