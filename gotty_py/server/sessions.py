"""Building one session per WebSocket from the server's fixed parts.

Rules of this module: a `SessionFactory` is made once per server from the settings, the
backend and the plugins (`plugins.py`), and gives every new session the same parts: the
grant bound to this client, one observer from each feature, and the connection's own
observer last. It knows nothing of HTTP routes or the server's lifecycle, and nothing is
added to it after construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..backend.base import Backend
from ..facts import SessionFacts
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
from .grant import ClientInfo
from .plugins import Plugins
from .template import Template, title_variables


class SessionTitle:
    """GoTTY's window title of a session: the server's, the client's and the process's
    variables, plus the launch token's user and claims beside the process's."""

    def __init__(self, template: Template, server_variables: Mapping[str, Any]) -> None:
        self._template = template
        self._server = dict(server_variables)

    def __call__(self, facts: SessionFacts, slave_variables: Mapping[str, Any]) -> str:
        variables = dict(slave_variables)
        if facts.claims:
            variables["claims"] = dict(facts.claims)
        if facts.user is not None:
            variables["user"] = facts.user
        return self._template.render(title_variables(
            self._server, {"remote_addr": facts.remote_addr}, variables))


def session_settings(options: Options, title: SessionTitle, hostname: str) -> SessionSettings:
    return SessionSettings(
        render_title=title,
        hostname=hostname,
        width=options.width,
        height=options.height,
        reconnect_seconds=options.reconnect_time if options.enable_reconnect else None,
        preferences=options.preferences,
    )


class SessionFactory:
    """One per server: builds every session from the same parts."""

    def __init__(self, settings: SessionSettings, backend: Backend, plugins: Plugins) -> None:
        self.settings = settings
        self.backend = backend
        self.plugins = plugins

    def create(self, master: Master, client: ClientInfo,
               connection: SessionObserver) -> Session:
        """A session for this client; `connection` (admission and accounting) observes it
        last, so that a session an earlier check refuses does not use up `--once`."""

        async def grant(init: InitMessage) -> Launch:
            return await self.plugins.grant.decide(init, client)

        observers = (*(feature.observe() for feature in self.plugins.features), connection)
        return Session(master, self.settings, self.backend,
                       SessionPlugins(grant=grant, observers=observers),
                       remote_addr=client.remote_addr,
                       user_agent=client.headers.get("User-Agent"))
