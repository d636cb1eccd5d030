"""The authenticating proxy's header (ttyd's `-H`): who the user is, when a proxy says so.

Rules of this module: with `--auth-proxy-header NAME` the server sits behind a proxy that
authenticates every request and names the user in that header. So the header is believed
only from a TCP peer inside `--trusted-proxies` (`proxies.py`), which must send it, exactly
once, with a printable UTF-8 value of at most `MAX_USER_LENGTH` characters; that value is
the session's user (GOTTY_USER, the title's `user`, the audit identity). Every other
request is refused before anything is served (403, counted, one log line): a peer that is
not a trusted proxy (with the header it is a forgery; without it, it went around the proxy
and would get a shell nobody authenticated), and a trusted peer without a usable header.
A Unix-socket peer has no address, so it is never a trusted proxy here. The decision is
pure; the handlers do the refusing (`handlers.py`, `websocket.py`), and the grant compares
the user with a launch token's `sub` (`grant.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .proxies import TrustedProxies, parse_address
from .refusals import ConnectionRefusal
from .startup import ExitCode, StartupError

MAX_USER_LENGTH = 256
# Headers that mean something else to the server, to the proxy or to the browser.
NOT_A_USER_HEADER = frozenset({"host", "authorization", "cookie", "x-forwarded-for",
                               "connection", "upgrade", "content-length", "transfer-encoding",
                               "origin", "sec-websocket-key", "sec-websocket-protocol"})

NOT_THROUGH_PROXY = "Forbidden: this server is reached only through its authenticating proxy"
NO_USER = "Forbidden: the authenticating proxy named no valid user"


@dataclass(frozen=True)
class AuthProxyRefused:
    reason: ConnectionRefusal
    text: str  # what the client is told
    detail: str  # the log line's words (a header value only escaped and cut)


@dataclass(frozen=True)
class AuthProxy:
    header: str
    proxies: TrustedProxies

    def user(self, peer_ip: str | None, values: Sequence[str]) -> str | AuthProxyRefused:
        """The user a trusted proxy named in the header, or why the request is refused."""
        if not self.proxies.trusts(parse_address(peer_ip) if peer_ip is not None else None):
            return AuthProxyRefused(
                ConnectionRefusal.AUTH_PROXY_UNTRUSTED, NOT_THROUGH_PROXY,
                (f"{self.header} sent by a peer that is not a trusted proxy (forged?)" if values
                 else "not a trusted proxy (--trusted-proxies), and --auth-proxy-header is "
                 "set: only the proxy may connect"))
        if len(values) != 1:
            return AuthProxyRefused(
                ConnectionRefusal.AUTH_PROXY_USER, NO_USER,
                f"the trusted proxy sent {len(values)} {self.header} headers, expected one")
        problem = _user_problem(values[0])
        if problem is not None:
            return AuthProxyRefused(ConnectionRefusal.AUTH_PROXY_USER, NO_USER,
                                    f"{self.header} from the trusted proxy {problem}")
        return _as_text(values[0])


def _as_text(value: str) -> str:
    """Tornado decodes header bytes as Latin-1; the user's name is UTF-8 on the wire."""
    return value.encode("latin-1").decode("utf-8")


def _user_problem(value: str) -> str | None:
    try:
        text = _as_text(value)
    except (UnicodeEncodeError, UnicodeDecodeError):
        return f"is not UTF-8: {value[:64]!a}"
    if not text:
        return "is empty"
    if len(text) > MAX_USER_LENGTH:
        return f"is longer than {MAX_USER_LENGTH} characters"
    if not text.isprintable():
        return f"holds characters that are not printable: {text[:64]!a}"
    return None


def auth_proxy(header: str, proxies: TrustedProxies) -> AuthProxy | None:
    """`--auth-proxy-header` at start-up: it needs `--trusted-proxies` (exit 2)."""
    if not header:
        return None
    if header.lower() in NOT_A_USER_HEADER:
        raise StartupError(ExitCode.CONFIG, (
            f"auth_proxy_header (--auth-proxy-header) {header!r} is a header with another "
            "meaning; use the one your proxy sets for the user, e.g. X-Forwarded-User"))
    if not proxies:
        raise StartupError(ExitCode.CONFIG, (
            "auth_proxy_header (--auth-proxy-header) is set, but trusted_proxies "
            "(--trusted-proxies) is not: name the authenticating proxy's addresses, from "
            "which alone the header is believed"))
    return AuthProxy(header, proxies)
