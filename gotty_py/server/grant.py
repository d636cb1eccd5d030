"""The grant: who may start a session, what it runs, and with what rights.

Rules of this module: one `LaunchGrant` per server decides every session from its init
message and the client's request, and nothing else does. GoTTY's rule first: the init's
token must equal the credential. In JWT mode the launch token (or the reconnect ticket that
stands for an earlier one) must be valid too, and alone decides the extra arguments, the
user and (only downwards) write permission; `?arg=` values are never read then. Without
JWT, `?arg=` values are appended only with --permit-arguments. The init's query string is
parsed once. Behind an authenticating proxy (`--auth-proxy-header`) the proxy's user is the
session's user; in JWT mode the token (or its ticket) must also be for that user (`sub`
equal to it), so that a token leaked to another user of the proxy is worth nothing. A
shared store (several replicas) that cannot answer refuses the launch (`STORE_UNREACHABLE`):
a token or ticket is never accepted without its single-use check.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from ..auth.basic import token_matches
from ..auth.jwt import LaunchTokenVerifier, TokenFailure, TokenRejected, VerifiedLaunch
from ..auth.store import StoreUnavailable
from ..auth.tickets import TicketStore
from ..options import Options
from ..webtty.protocol import InitMessage, parse_query
from ..webtty.session import Launch, Refused, Session, SessionObserver
from ..webtty.state import SessionEnd
from .plugin_base import PluginDefaults

log = logging.getLogger("gotty_py.server")

RECONNECT_TICKET = "reconnect_ticket"  # its key in the page's session-info message
RECONNECT_TICKET_GRACE = 30  # seconds beyond --reconnect-time a ticket stays redeemable
# Headers never copied into a child's environment by --pass-headers: secrets, and Proxy,
# which would set HTTP_PROXY for the child ("httpoxy").
PASS_HEADERS_DENIED = {"authorization", "cookie", "proxy", "proxy-authorization"}
# The close reason while the shared store of used tokens and tickets does not answer.
STORE_UNREACHABLE = "launch refused: the shared token store is unreachable"
TICKET_REFUSED = "reconnect ticket expired or already used"
OTHER_USER = "launch token is for another user"
# A portal's token for joining a running session (server/joins.py) names it in this claim;
# such a token never starts a session of its own.
JOIN_CLAIM = "join"
JOIN_TOKEN_LAUNCH = "a join token cannot start a session"


@dataclass(frozen=True)
class ClientInfo:
    """What the server knows of the client before the session starts."""

    remote_addr: str
    headers: Mapping[str, str]
    proxy_user: str | None = None  # the authenticating proxy's user (--auth-proxy-header)

    def header_items(self) -> list[tuple[str, str]]:
        get_list = getattr(self.headers, "get_list", None)
        if get_list is None:
            return list(self.headers.items())
        return [(name, ",".join(get_list(name))) for name in self.headers]


def header_environment(client: ClientInfo) -> dict[str, str]:
    """sorenisanerd's --pass-headers: HTTP_<NAME> per request header, minus secrets."""
    return {
        "HTTP_" + name.upper().replace("-", "_"): value
        for name, value in client.header_items()
        if name.lower() not in PASS_HEADERS_DENIED
    }


def launch_from_verified(verified: VerifiedLaunch, command: Sequence[str],
                         server_permits_write: bool) -> Launch:
    """A verified token's session: its args after the command's, its `sub` as the user
    (GOTTY_USER for the child), and write only if the server permits it and the token
    does not take it away."""
    return Launch(
        argv=(*command, *verified.args),
        permit_write=server_permits_write and verified.write is not False,
        user=verified.user,
        claims=dict(verified.claims),
    )


class GrantListener(Protocol):
    """Told of every credential the grant refuses (the metrics), by stable class only."""

    def token_refused(self, failure: TokenFailure) -> None: ...

    def ticket_refused(self) -> None: ...


class _NoListener:
    def token_refused(self, failure: TokenFailure) -> None:
        pass

    def ticket_refused(self) -> None:
        pass


class LaunchGrant:
    """Decides every session of one server (see the module's rules)."""

    def __init__(self, options: Options, command: Sequence[str],
                 verifier: LaunchTokenVerifier | None,
                 tickets: TicketStore[Launch] | None,
                 listener: GrantListener | None = None) -> None:
        self.command = tuple(command)
        self.credential = options.credential
        self.permit_write = options.permit_write
        self.permit_arguments = options.permit_arguments
        self.pass_headers = options.pass_headers
        self.proxy_user_required = bool(options.auth_proxy_header)
        self.verifier = verifier
        self.tickets = tickets
        self._listener: GrantListener = listener or _NoListener()

    async def decide(self, init: InitMessage, client: ClientInfo) -> Launch:
        """The session's launch, or `Refused` with the reason the page shows."""
        try:
            launch = await self._decide(init, client)
        except Refused as exc:
            log.info("Refused session from %s: %s", client.remote_addr, exc,
                     extra={"client": client.remote_addr})
            raise
        if self.pass_headers:
            launch = replace(launch, env=header_environment(client))
        return launch

    async def _decide(self, init: InitMessage, client: ClientInfo) -> Launch:
        if not token_matches(init.auth_token, self.credential):
            raise Refused("unauthorized")
        if self.proxy_user_required and client.proxy_user is None:
            raise Refused("unauthorized")  # the site refuses such a request before this
        query = parse_query(init.arguments)
        if self.verifier is None:
            args = query.get("arg", []) if self.permit_arguments else []
            return Launch(argv=(*self.command, *args), permit_write=self.permit_write,
                          user=client.proxy_user)
        try:
            launch, how = await self._jwt_launch(query, client)
        except StoreUnavailable as exc:
            log.error("Launch refused for %s: the shared token store is unreachable: %s",
                      client.remote_addr, exc, extra={"client": client.remote_addr})
            self._listener.token_refused(TokenFailure.STORE_UNAVAILABLE)
            raise Refused(STORE_UNREACHABLE) from None
        log.info("%s accepted for user %r (jti %r) from %s", how, launch.user,
                 launch.claims.get("jti"), client.remote_addr,
                 extra={"client": client.remote_addr, "user": launch.user})
        return launch

    async def _jwt_launch(self, query: Mapping[str, list[str]],
                          client: ClientInfo) -> tuple[Launch, str]:
        """The launch a token or ticket grants, with its reconnect ticket; StoreUnavailable
        passes through (the caller refuses)."""
        tickets = query.get("ticket", []) if self.tickets is not None else []
        if tickets:
            launch, how = await self._redeem_ticket(tickets), "Reconnect ticket"
        else:
            launch, how = await self._verify_token(query.get("jwt", [])), "Launch token"
        if client.proxy_user is not None and launch.user != client.proxy_user:
            log.warning("%s refused: it is for user %r, the authenticating proxy says %r",
                        how, launch.user, client.proxy_user,
                        extra={"client": client.remote_addr, "user": client.proxy_user})
            raise Refused(OTHER_USER)
        if self.tickets is not None:
            try:
                ticket = await self.tickets.issue(launch)
            except OverflowError:
                raise Refused("server busy: too many reconnect tickets") from None
            launch = replace(launch, info={RECONNECT_TICKET: ticket})
        return launch, how

    async def _verify_token(self, tokens: list[str]) -> Launch:
        assert self.verifier is not None
        try:
            if len(tokens) > 1:
                raise TokenRejected("invalid token")  # which one would be meant is unclear
            verified = await self.verifier.verify(tokens[0] if tokens else None)
        except TokenRejected as exc:
            self._listener.token_refused(exc.failure)
            raise Refused(exc.reason) from None
        if JOIN_CLAIM in verified.claims:
            raise Refused(JOIN_TOKEN_LAUNCH)
        return launch_from_verified(verified, self.command, self.permit_write)

    async def _redeem_ticket(self, tickets: list[str]) -> Launch:
        assert self.tickets is not None
        launch = await self.tickets.redeem(tickets[0]) if len(tickets) == 1 else None
        if launch is None:
            self._listener.ticket_refused()
            raise Refused(TICKET_REFUSED)
        if not self._could_grant(launch):
            # A shared store holds grants outside this process: one this server could never
            # have made (written into the store by someone else) is not believed.
            log.warning("Reconnect ticket refused: its grant (command %r, write %s) is not "
                        "one this server makes", launch.argv[0], launch.permit_write)
            self._listener.ticket_refused()
            raise Refused(TICKET_REFUSED)
        return launch

    def _could_grant(self, launch: Launch) -> bool:
        """Whether a token could have given `launch` here: this server's command first, and
        write only where the server permits it."""
        command = len(self.command)
        return (launch.argv[:command] == self.command
                and (self.permit_write or not launch.permit_write))


class TicketArming(PluginDefaults):
    """The plugin that lets a page reconnect in JWT mode: once a session ends, its reconnect
    ticket may be redeemed until shortly after the page's reconnect delay has passed."""

    def __init__(self, tickets: TicketStore[Launch], reconnect_seconds: int) -> None:
        self._tickets = tickets
        self._window = reconnect_seconds + RECONNECT_TICKET_GRACE

    def observe(self) -> SessionObserver:
        return _ArmTicketAtEnd(self)

    async def arm(self, session: Session) -> None:
        ticket = session.launch.info.get(RECONNECT_TICKET) if session.launch else None
        if not ticket:
            return
        try:
            await self._tickets.expire_after_end(ticket, self._window)
        except StoreUnavailable as exc:
            log.warning("Session %s: its reconnect ticket could not be given its %d s window "
                        "(the shared token store is unreachable: %s); it stays redeemable "
                        "until its running-session expiry", session.id, self._window, exc)


class _ArmTicketAtEnd(SessionObserver):
    def __init__(self, arming: TicketArming) -> None:
        self._arming = arming

    async def on_end(self, session: Session, end: SessionEnd) -> None:
        await self._arming.arm(session)
