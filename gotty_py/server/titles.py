"""GoTTY's window titles: the page's, before any session, and each session's.

Rules of this module: both render the one `--title-format` template over GoTTY's variables
(`template.title_variables`): the server's (command, argv, hostname), the client's
(remote_addr) and, for a session, its process's (`SlaveInfo.variables`) with the launch
token's `user` and `claims` beside them. The page is the title a tab keeps when no session
starts (a refused token, a lost connection): where the template needs what only a session
has (`.user`, `.claims`, `.pid`), the page takes GoTTY's default title instead of
`<no value>: <no value>/<no value>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..facts import SessionFacts
from .template import Template, title_variables

# GoTTY's default --title-format: what the page shows when the configured one needs a session.
PAGE_FALLBACK = Template("{{ .command }}@{{ .hostname }}")


class Titles:
    def __init__(self, template: Template, server_variables: Mapping[str, Any]) -> None:
        self._template = template
        self._server = dict(server_variables)

    def page(self, remote_addr: str) -> str:
        """The index page's title: no process, so no `.pid`, no user, no claims. A template
        that uses any of them would show `<no value>` in the tab of a session that never
        starts; it gets `command@hostname` instead (the session's title replaces it)."""
        variables = title_variables(self._server, {"remote_addr": remote_addr})
        if self._template.complete(variables):
            return self._template.render(variables)
        return PAGE_FALLBACK.render(variables)

    def session(self, facts: SessionFacts, slave_variables: Mapping[str, Any]) -> str:
        variables = dict(slave_variables)
        if facts.claims:
            variables["claims"] = dict(facts.claims)
        if facts.user is not None:
            variables["user"] = facts.user
        return self._template.render(title_variables(
            self._server, {"remote_addr": facts.remote_addr}, variables))
