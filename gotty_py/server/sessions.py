"""Building one session per WebSocket: who may start it, what runs, and who watches it.

Rules of this module: it turns the server's options into the three parts a `Session` is
made of (an authorizer, a process factory, observers) and knows nothing of HTTP routes or
server lifecycle. New kinds of authorization (JWT) and observers (audit, cleanup) plug in
here, not into the session. In JWT mode the launch token decides the extra arguments, the
user and (only downwards) write permission; `?arg=` values are never read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..auth.basic import token_matches
from ..auth.jwt import LaunchTokenVerifier, TokenRejected, VerifiedLaunch
from ..auth.tickets import ReconnectTickets
from ..backend.base import Backend
from ..facts import SessionFacts
from ..options import Options
from ..webtty.protocol import InitMessage, parse_arguments, query_values
from ..webtty.session import (
    Launch,
    Observers,
    Refused,
    Session,
    SessionObserver,
    SessionSettings,
)
from ..webtty.state import SessionEnd
from .template import Template, title_variables

log = logging.getLogger("gotty_py.server")

RECONNECT_TICKET = "reconnect_ticket"
RECONNECT_TICKET_GRACE = 30  # seconds beyond --reconnect-time a ticket stays redeemable
# Headers never copied into a child's environment by --pass-headers: secrets, and Proxy,
# which would set HTTP_PROXY for the child ("httpoxy").
PASS_HEADERS_DENIED = {"authorization", "cookie", "proxy", "proxy-authorization"}


@dataclass(frozen=True)
class ClientInfo:
    """What the server knows of the client before the session starts."""

    remote_addr: str
    headers: Mapping[str, str]

    def header_items(self) -> list[tuple[str, str]]:
        get_list = getattr(self.headers, "get_list", None)
        if get_list is None:
            return list(self.headers.items())
        return [(name, ",".join(get_list(name))) for name in self.headers]


ObserverFactory = Callable[[], SessionObserver]


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


class _ArmTicketAtEnd(SessionObserver):
    """Once a session ends, its reconnect ticket may be redeemed until shortly after the
    page's reconnect delay has passed."""

    def __init__(self, tickets: ReconnectTickets[Launch], window: float) -> None:
        self._tickets = tickets
        self._window = window

    def on_end(self, session: Session, end: SessionEnd) -> None:
        ticket = session.launch.info.get(RECONNECT_TICKET) if session.launch else None
        if ticket:
            self._tickets.expire_after_end(ticket, self._window)


class _ClaimOnce(SessionObserver):
    def __init__(self, claim: Callable[[], None]) -> None:
        self._claim = claim

    async def before_spawn(self, session: Session) -> None:
        self._claim()


class SessionFactory:
    """One per server: builds every session from the options."""

    def __init__(self, options: Options, command: Sequence[str], environ: Mapping[str, str],
                 title_template: Template, server_variables: dict[str, Any],
                 backend: Backend, verifier: LaunchTokenVerifier | None = None) -> None:
        self.options = options
        self.backend = backend
        self.verifier = verifier
        self.command = list(command)
        self.environ = dict(environ)
        self.title_template = title_template
        self.server_variables = server_variables
        self.observer_factories: list[ObserverFactory] = []
        # With --reconnect, a page whose single-use token started a session reconnects with
        # a ticket standing for the same grant (auth/tickets.py).
        self.tickets: ReconnectTickets[Launch] | None = None
        if verifier is not None and options.enable_reconnect:
            self.tickets = ReconnectTickets()
            self.observer_factories.append(self._arm_ticket_at_end)

    def grant(self, init: InitMessage) -> Launch:
        """GoTTY's authorization: the init token must equal the credential. In JWT mode the
        launch token must be valid too (both must pass), and alone decides the arguments."""
        if not token_matches(init.auth_token, self.options.credential):
            raise Refused("unauthorized")
        if self.verifier is not None:
            return self._launch_from_token(init)
        args = parse_arguments(init.arguments) if self.options.permit_arguments else []
        return Launch(argv=(*self.command, *args), permit_write=self.options.permit_write)

    def _launch_from_token(self, init: InitMessage) -> Launch:
        assert self.verifier is not None
        tickets = query_values(init.arguments, "ticket") if self.tickets is not None else []
        if tickets:
            launch = self._redeem_ticket(tickets)
        else:
            tokens = query_values(init.arguments, "jwt")
            try:
                if len(tokens) > 1:
                    raise TokenRejected("invalid token")  # which one would be meant is unclear
                verified = self.verifier.verify(tokens[0] if tokens else None)
            except TokenRejected as exc:
                raise Refused(exc.reason) from None
            launch = launch_from_verified(verified, self.command, self.options.permit_write)
        if self.tickets is None:
            return launch
        try:
            ticket = self.tickets.issue(launch)
        except OverflowError:
            raise Refused("server busy: too many reconnect tickets") from None
        return replace(launch, info={RECONNECT_TICKET: ticket})

    def _redeem_ticket(self, tickets: list[str]) -> Launch:
        assert self.tickets is not None
        launch = self.tickets.redeem(tickets[0]) if len(tickets) == 1 else None
        if launch is None:
            raise Refused("reconnect ticket expired or already used")
        return launch

    def _arm_ticket_at_end(self) -> SessionObserver:
        assert self.tickets is not None
        return _ArmTicketAtEnd(self.tickets, self.options.reconnect_time + RECONNECT_TICKET_GRACE)

    def render_title(self, facts: SessionFacts, slave_variables: Mapping[str, Any]) -> str:
        """GoTTY's title variables, plus the token's user and claims beside the process's."""
        variables = dict(slave_variables)
        if facts.claims:
            variables["claims"] = dict(facts.claims)
        if facts.user is not None:
            variables["user"] = facts.user
        return self.title_template.render(title_variables(
            self.server_variables, {"remote_addr": facts.remote_addr}, variables))

    def create(self, master: Any, client: ClientInfo, *, claim_once: Callable[[], None],
               observers: Sequence[SessionObserver] = ()) -> Session:
        options = self.options
        settings = SessionSettings(
            render_title=self.render_title,
            hostname=self.server_variables["hostname"],
            width=options.width,
            height=options.height,
            reconnect_seconds=options.reconnect_time if options.enable_reconnect else None,
            preferences=options.preferences,
        )

        async def authorize(init: InitMessage) -> Launch:
            try:
                launch = self.grant(init)
            except Refused as exc:
                log.info("Refused session from %s: %s", client.remote_addr, exc)
                raise
            if self.verifier is not None:
                how = ("Reconnect ticket" if query_values(init.arguments, "ticket")
                       and self.tickets is not None else "Launch token")
                log.info("%s accepted for user %r (jti %r) from %s", how, launch.user,
                         launch.claims.get("jti"), client.remote_addr)
            if options.pass_headers:
                launch = replace(launch, env=header_environment(client))
            return launch

        watchers = list(observers)
        watchers.extend(factory() for factory in self.observer_factories)
        # Last: a session refused by an earlier check does not use up --once.
        watchers.append(_ClaimOnce(claim_once))
        return Session(master, settings, authorize, self.backend, Observers(watchers),
                       remote_addr=client.remote_addr,
                       user_agent=client.headers.get("User-Agent"))
