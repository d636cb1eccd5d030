"""GoTTY's window titles: the page's, before any session, and each session's.

Rules of this module: both render the one `--title-format` template over GoTTY's variables
(`template.title_variables`): the server's (command, argv, hostname), the client's
(remote_addr) and, for a session, its process's (`SlaveInfo.variables`) with the launch
token's `user` and `claims` beside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..facts import SessionFacts
from .template import Template, title_variables


class Titles:
    def __init__(self, template: Template, server_variables: Mapping[str, Any]) -> None:
        self._template = template
        self._server = dict(server_variables)

    def page(self, remote_addr: str) -> str:
        """The index page's title: no process, so no `.pid` and no user."""
        return self._template.render(title_variables(self._server,
                                                     {"remote_addr": remote_addr}))

    def session(self, facts: SessionFacts, slave_variables: Mapping[str, Any]) -> str:
        variables = dict(slave_variables)
        if facts.claims:
            variables["claims"] = dict(facts.claims)
        if facts.user is not None:
            variables["user"] = facts.user
        return self._template.render(title_variables(
            self._server, {"remote_addr": facts.remote_addr}, variables))
