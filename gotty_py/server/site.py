"""The site: what the HTTP and WebSocket handlers need of the server, as one small value.

Rules of this module: `Site` is made once by the server and handed to every route; the
handlers depend on it and on nothing else of the server (no reference back to
`GottyServer`, so no import cycle). `Site.client_address` is how every log line, session,
audit record and title names the client: the TCP peer (`peer_address`), the credentials of a
Unix-socket peer (`unix:uid=1000,pid=4242`, `listen.py`), or the address a trusted proxy
forwarded for (`proxies.py`). `Site.proxy_user` is the user an authenticating proxy named
(`auth_proxy.py`), or why the request is refused. What happens before a session exists (a refused
connection) is counted through the `refusals` it was built with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import tornado.httputil

from ..webtty.session import Master, Session
from .admission import Admission, Slot
from .auth_proxy import AuthProxy, AuthProxyRefused
from .delivery import Liveness
from .grant import ClientInfo
from .handshakes import HandshakeLimiter
from .hosts import AllowedHosts
from .joins import Joins
from .limits import INIT_MESSAGE_FLOOR
from .listen import UnixPeer
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
    auth_proxy: AuthProxy | None = None  # --auth-proxy-header
    # Resume and join inits (server/joins.py); None when neither is enabled.
    joins: Joins | None = None

    def client_address(self, request: tornado.httputil.HTTPServerRequest) -> str:
        """The client as everyone names it: from a trusted proxy, the address it forwarded
        for (`X-Forwarded-For`); else the TCP peer's `host:port`."""
        return self._forwarded_for(request) or peer_address(request)

    def client_host(self, request: tornado.httputil.HTTPServerRequest) -> str:
        """The same client without the peer's port (the Basic auth log lines, the
        handshake limits); a Unix-socket peer without its pid."""
        unix = _unix_peer(request)
        if unix is not None:
            return unix.host
        return self._forwarded_for(request) or str(request.remote_ip)

    def proxy_user(self, request: tornado.httputil.HTTPServerRequest
                   ) -> str | AuthProxyRefused | None:
        """The user the authenticating proxy named (None: no `--auth-proxy-header`), or
        why the request is refused."""
        if self.auth_proxy is None:
            return None
        return self.auth_proxy.user(peer_ip(request),
                                    request.headers.get_list(self.auth_proxy.header))

    def _forwarded_for(self, request: tornado.httputil.HTTPServerRequest) -> str | None:
        if not self.proxies:
            return None
        ip = peer_ip(request)
        if ip is None:  # a Unix-socket peer has no address a proxy list could name
            return None
        return self.proxies.client(ip, request.headers.get_list("X-Forwarded-For"))

    def open_session(self, master: Master, client: ClientInfo, slot: Slot,
                     drop: Callable[[str], None] | None = None) -> Session:
        """The admitted connection's session, observed last by its slot (the `--once`
        claim), which it holds until it has ended."""
        session = self.sessions.create(master, client, self.admission.observer(slot), drop)
        self.admission.hold(slot, session)
        return session


def _peer(request: tornado.httputil.HTTPServerRequest) -> tuple[str, int] | None:
    address = getattr(request.connection, "context", None)
    peer = getattr(address, "address", None)
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return None


def _unix_peer(request: tornado.httputil.HTTPServerRequest) -> UnixPeer | None:
    context = getattr(request.connection, "context", None)
    peer = getattr(context, "address", None)
    return peer if isinstance(peer, UnixPeer) else None


def peer_ip(request: tornado.httputil.HTTPServerRequest) -> str | None:
    """The TCP peer's IP address; None for a Unix-socket peer."""
    if _unix_peer(request) is not None:
        return None
    peer = _peer(request)
    return peer[0] if peer else str(request.remote_ip)


def peer_address(request: tornado.httputil.HTTPServerRequest) -> str:
    """`host:port` of the TCP peer (`[v6]:port`), a Unix-socket peer's credentials, else
    Tornado's remote_ip."""
    unix = _unix_peer(request)
    if unix is not None:
        return str(unix)
    peer = _peer(request)
    if peer is not None:
        host = f"[{peer[0]}]" if ":" in peer[0] else peer[0]
        return f"{host}:{peer[1]}"
    return str(request.remote_ip)
