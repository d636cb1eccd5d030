"""The site: what the HTTP and WebSocket handlers need of the server, as one small value.

Rules of this module: `Site` is made once by the server and handed to every route; the
handlers depend on it and on nothing else of the server (no reference back to
`GottyServer`, so no import cycle). `peer_address` is how every log line and session names
the client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tornado.httputil

from ..webtty.session import Master, Session
from .admission import Admission, Slot
from .grant import ClientInfo
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

    def open_session(self, master: Master, client: ClientInfo, slot: Slot) -> Session:
        """The admitted connection's session, observed last by its slot (the `--once`
        claim), which it holds until it has ended."""
        session = self.sessions.create(master, client, self.admission.observer(slot))
        self.admission.hold(slot, session)
        return session


def peer_address(request: tornado.httputil.HTTPServerRequest) -> str:
    """`host:port` of the TCP peer (`[v6]:port`), else Tornado's remote_ip."""
    address = getattr(request.connection, "context", None)
    peer = getattr(address, "address", None)
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = f"[{peer[0]}]" if ":" in str(peer[0]) else str(peer[0])
        return f"{host}:{peer[1]}"
    return str(request.remote_ip)
