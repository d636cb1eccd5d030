"""Which `/ws` connections attach to a session that already runs: a resume or a join.

Rules of this module: an init carrying `Resume` (a resume ticket the owner's page got in
message 7) or `Join` (a join ticket an owner minted, or a launch-token-style JWT a portal
signed naming the session and a role) never starts a process. GoTTY's rule comes first
(the init's token must equal the credential); behind an authenticating proxy the proxy's
user must be the ticket's user (a resume) and is the joiner's name (a join). Every refusal
is a `Refused` whose text the page shows (close 1008). Tickets are kept in this process
(webtty/sharing.py's `SessionDirectory`): on another replica a ticket is unknown, and the
refusal says so, because a WebSocket cannot be moved to the replica that holds the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..auth.basic import token_matches
from ..auth.jwt import LaunchTokenVerifier, TokenRejected
from ..auth.store import StoreUnavailable
from ..webtty.protocol import InitMessage, ProtocolError, parse_init
from ..webtty.session import Refused
from ..webtty.sharing import Guest, Peer, Role, SessionDirectory, SharedMaster
from .grant import JOIN_CLAIM, OTHER_USER, STORE_UNREACHABLE, ClientInfo

RESUME_REFUSED = ("resume ticket expired or already used (or the session runs on another "
                  "replica)")
JOIN_REFUSED = "join ticket expired or already used (or the session runs on another replica)"
NO_SESSION = "the session to join is not running here"
NOT_SHARED = "this server does not share sessions (--max-observers is 0)"


@dataclass(frozen=True)
class Attached:
    """Where a connection went: the session's hub, and its guest entry (None: the owner)."""

    hub: SharedMaster
    guest: Guest | None


class Joins:
    """One per server: turns resume and join inits into attachments."""

    def __init__(self, directory: SessionDirectory, credential: str,
                 verifier: LaunchTokenVerifier | None, max_observers: int) -> None:
        self.directory = directory
        self.credential = credential
        self.verifier = verifier
        self.max_observers = max_observers

    @staticmethod
    def wanted(frame: bytes) -> InitMessage | None:
        """The init, when it asks to resume or join; None for every other frame (a
        malformed init is the new session's to refuse)."""
        if b'"' not in frame:
            return None
        try:
            init = parse_init(frame)
        except ProtocolError:
            return None
        return init if init.gotty_py and (init.resume or init.join) else None

    async def attach(self, init: InitMessage, peer: Peer, client: ClientInfo) -> Attached:
        if not token_matches(init.auth_token, self.credential):
            raise Refused("unauthorized")
        if init.resume:
            return self._resume(init.resume, peer, client)
        return await self._join(init.join, peer, client)

    def _resume(self, ticket: str, peer: Peer, client: ClientInfo) -> Attached:
        found = self.directory.redeem_resume(ticket)
        if found is None:
            raise Refused(RESUME_REFUSED)
        hub, user = found
        if client.proxy_user is not None and client.proxy_user != user:
            raise Refused(OTHER_USER)
        hub.reattach(Peer(peer.master, peer.drop, user or peer.who, peer.remote_addr))
        return Attached(hub, None)

    async def _join(self, credential: str, peer: Peer, client: ClientInfo) -> Attached:
        if self.max_observers == 0:
            raise Refused(NOT_SHARED)
        who = client.proxy_user
        if credential.count(".") == 2 and self.verifier is not None:
            hub, role, user = await self._join_token(credential)
            if who is not None and user is not None and user != who:
                raise Refused(OTHER_USER)
            who = who or user
        else:
            found = self.directory.redeem_join(credential)
            if found is None:
                raise Refused(JOIN_REFUSED)
            hub, role = found
        guest = hub.join(Peer(peer.master, peer.drop, who or peer.who, peer.remote_addr), role)
        return Attached(hub, guest)

    async def _join_token(self, token: str) -> tuple[SharedMaster, Role, str | None]:
        assert self.verifier is not None
        try:
            verified = await self.verifier.verify(token)
        except TokenRejected as exc:
            raise Refused(exc.reason) from None
        except StoreUnavailable:
            raise Refused(STORE_UNREACHABLE) from None
        claim: Any = verified.claims.get(JOIN_CLAIM)
        if (not isinstance(claim, dict) or not isinstance(claim.get("session"), str)
                or claim.get("role") not in (Role.OBSERVER.value, Role.MODERATOR.value)):
            raise Refused('invalid claims: join must be {"session": ID, "role": '
                          '"observer" or "moderator"}')
        hub = self.directory.hub(claim["session"])
        if hub is None:
            raise Refused(NO_SESSION)
        return hub, Role(claim["role"]), verified.user
