"""Building one session per WebSocket from the server's fixed parts.

Rules of this module: a `SessionFactory` is made once per server from the settings, the
backend and the plugins (`plugins.py`), and gives every new session the same parts: the
grant bound to this client, one observer from each feature, and the connection's own
observer last. With resume or sharing enabled (`SharingSettings.enabled`), the session's
master is a `SharedMaster` around the connection (webtty/sharing.py), told to the features'
observers of attach events, and its observer comes just before the connection's. It knows
nothing of HTTP routes or the server's lifecycle, and nothing is added to it after
construction.
"""

from __future__ import annotations

from collections.abc import Callable

from ..backend.base import Backend
from ..options import Options
from ..webtty.protocol import InitMessage
from ..webtty.session import (
    Launch,
    Master,
    Session,
    SessionObserver,
    SessionPlugins,
    SessionSettings,
)
from ..webtty.sharing import Peer, SessionDirectory, SharedMaster, SharingSettings
from .grant import ClientInfo
from .plugins import Plugins
from .titles import Titles


def session_settings(options: Options, titles: Titles, hostname: str) -> SessionSettings:
    return SessionSettings(
        render_title=titles.session,
        hostname=hostname,
        width=options.width,
        height=options.height,
        reconnect_seconds=options.reconnect_time if options.enable_reconnect else None,
        preferences=options.preferences,
        idle_timeout=options.idle_timeout,
        max_session_time=options.max_session_time,
    )


def sharing_settings(options: Options) -> SharingSettings:
    return SharingSettings(detach_grace=options.detach_grace,
                           buffer_bytes=options.session_buffer,
                           max_observers=options.max_observers)


class SessionFactory:
    """One per server: builds every session from the same parts."""

    def __init__(self, settings: SessionSettings, backend: Backend, plugins: Plugins,
                 sharing: SharingSettings | None = None,
                 directory: SessionDirectory | None = None) -> None:
        self.settings = settings
        self.backend = backend
        self.plugins = plugins
        self.sharing = sharing if sharing is not None and sharing.enabled else None
        self.directory = directory if directory is not None else SessionDirectory()

    def create(self, master: Master, client: ClientInfo, connection: SessionObserver,
               drop: Callable[[str], None] | None = None) -> Session:
        """A session for this client; `connection` (admission and accounting) observes it
        last, so that a session an earlier check refuses does not use up `--once`. `drop`
        ends the connection at once (a reattaching page replaces it)."""

        async def grant(init: InitMessage) -> Launch:
            return await self.plugins.grant.decide(init, client)

        features = tuple(feature.observe() for feature in self.plugins.features)
        observers: tuple[SessionObserver, ...] = (*features, connection)
        if self.sharing is not None:
            peer = Peer(master, drop or (lambda why: None), client.proxy_user or
                        client.remote_addr, client.remote_addr)
            hub = SharedMaster(peer, self.sharing, self.directory, features)
            master = hub
            observers = (*features, hub.observer(), connection)
        return Session(master, self.settings, self.backend,
                       SessionPlugins(grant=grant, observers=observers),
                       remote_addr=client.remote_addr,
                       user_agent=client.headers.get("User-Agent"))
