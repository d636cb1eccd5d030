"""Why a connection was refused before it had a session, and who counts it.

Rules of this module: the reasons are a small fixed set (they become metric labels, so they
never carry client data); the `/ws` handler and admission name one for every refusal (the
site routes too, for a wrong Host or a cross-site request for the page's scripts), and
the `RefusalCounter` the `Site` was built with is told. A refusal after the upgrade (a bad
launch token, a required recording that cannot be opened) is a session that ended as
`refused`, counted by the session's observers instead.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class ConnectionRefusal(StrEnum):
    BASIC_AUTH = "basic-auth"  # missing or wrong Basic credentials on /ws
    ORIGIN = "origin"  # the Origin header is not allowed (--ws-origin, or same-origin)
    MAX_CONNECTION = "max-connection"  # --max-connection sessions are open
    SHUTTING_DOWN = "shutting-down"  # draining or stopping: admitting nothing new
    ONCE_USED = "once-used"  # --once: the one session has been claimed
    HOST = "host"  # the Host header names no host this server serves (--allowed-hosts)
    FETCH_SITE = "fetch-site"  # Sec-Fetch-Site says another site's page asked (scripts, /ws)
    HANDSHAKE_CONCURRENCY = "handshake-concurrency"  # the address has too many unstarted
    HANDSHAKE_RATE = "handshake-rate"  # the address handshakes too often
    REQUEST_BODY = "request-body"  # a /ws request with a body (413)
    AUTH_PROXY_UNTRUSTED = "auth-proxy-untrusted"  # --auth-proxy-header: not via the proxy
    AUTH_PROXY_USER = "auth-proxy-user"  # from the proxy, without one valid user header
    ADMIN_AUTH = "admin-auth"  # the admin routes without the right --admin-credential
    ADMIN_CROSS_SITE = "admin-cross-site"  # an admin POST from another site's page (CSRF)


class RefusalCounter(Protocol):
    def refused(self, reason: ConnectionRefusal) -> None:
        """One connection was refused for `reason`."""


class _NotCounted:
    def refused(self, reason: ConnectionRefusal) -> None:
        pass


NOT_COUNTED: RefusalCounter = _NotCounted()
