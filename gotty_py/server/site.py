"""The site: what the HTTP and WebSocket handlers need of the server, as one small value.

Rules of this module: `Site` is made once by the server and handed to every route; the
handlers depend on it and on nothing else of the server (no reference back to
`GottyServer`, so no import cycle). `Site.client_address` is how every log line, session,
audit record and title names the client: the TCP peer (`peer_address`), or the address a
trusted proxy forwarded for (`proxies.py`). What happens before a session exists (a refused
connection) is counted through the `refusals` it was built with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import tornado.httputil

from ..webtty.session import Master, Session
from .admission import Admission, Slot
from .delivery import Liveness
from .grant import ClientInfo
from .handshakes import HandshakeLimiter
from .hosts import AllowedHosts
from .limits import INIT_MESSAGE_FLOOR
from .proxies import NO_PROXIES, TrustedProxies
from .refusals import NOT_COUNTED, RefusalCounter
from .sessions import SessionFactory


@dataclass(frozen=True)
class Site:
    base_path: str  # with its leading and trailing slash
    basic_auth: bool
    credential: str  # user:pass for Basic auth and the init's token; may be empty
    ws_origin: str | None  # the --ws-origin pattern, or None for same-origin only
    config_js: str
    init_timeout: int  # seconds a client may take to send its init (0: forever)
    index_page: Callable[[str], str]  # the index page's HTML for a client's address
    admission: Admission
    sessions: SessionFactory
    hosts: AllowedHosts  # the Host headers served (DNS rebinding: hosts.py)
    # Pings and the no-progress deadline of each connection's output (server/delivery.py).
    liveness: Liveness
    proxies: TrustedProxies = NO_PROXIES
    refusals: RefusalCounter = NOT_COUNTED  # connections refused before a session exists
    # The largest message read before the session has started (--init-message-limit).
    init_message_limit: int = 64 * INIT_MESSAGE_FLOOR
    handshakes: HandshakeLimiter = field(
        default_factory=lambda: HandshakeLimiter(concurrency=0, rate=0))

    def client_address(self, request: tornado.httputil.HTTPServerRequest) -> str:
        """The client as everyone names it: from a trusted proxy, the address it forwarded
        for (`X-Forwarded-For`); else the TCP peer's `host:port`."""
        return self._forwarded_for(request) or peer_address(request)

    def client_host(self, request: tornado.httputil.HTTPServerRequest) -> str:
        """The same client without the peer's port (the Basic auth log lines)."""
        return self._forwarded_for(request) or str(request.remote_ip)

    def _forwarded_for(self, request: tornado.httputil.HTTPServerRequest) -> str | None:
        if not self.proxies:
            return None
        peer = _peer(request)
        return self.proxies.client(peer[0] if peer else str(request.remote_ip),
                                   request.headers.get_list("X-Forwarded-For"))

    def open_session(self, master: Master, client: ClientInfo, slot: Slot) -> Session:
        """The admitted connection's session, observed last by its slot (the `--once`
        claim), which it holds until it has ended."""
        session = self.sessions.create(master, client, self.admission.observer(slot))
        self.admission.hold(slot, session)
        return session


def _peer(request: tornado.httputil.HTTPServerRequest) -> tuple[str, int] | None:
    address = getattr(request.connection, "context", None)
    peer = getattr(address, "address", None)
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return None


def peer_address(request: tornado.httputil.HTTPServerRequest) -> str:
    """`host:port` of the TCP peer (`[v6]:port`), else Tornado's remote_ip."""
    peer = _peer(request)
    if peer is not None:
        host = f"[{peer[0]}]" if ":" in peer[0] else peer[0]
        return f"{host}:{peer[1]}"
    return str(request.remote_ip)
