"""The live-session registry: which sessions run now, and ending one from outside.

Rules of this module: `SessionRegistry` is one plugin (server/plugins.py), given at
construction to what reads it (the admin routes, server/admin.py). A session is in it from
its start (`on_start`: its command runs) to its end (`on_end`), and nothing else adds or
removes one. What it shows of a session is read from what the session computed once: its
`SessionFacts`, its byte counters (`Session.bytes_in`/`bytes_out`, counted where input and
output pass; the registry counts nothing itself) and, for sharing, a `SharingFacts` the
registry is given a way to look up (`sharing=`), which is none (0 observers, attached) until
a session hub provides one. Ending a session goes through the session's own end path
(`Session.abort`), so cleanup, audit and the close reach it as for any other end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..facts import Target
from ..webtty.protocol import CloseCode
from ..webtty.session import Session, SessionObserver
from ..webtty.sharing import SessionDirectory
from ..webtty.state import EndCause, SessionEnd
from .commandline import command_line
from .plugin_base import PluginDefaults

log = logging.getLogger("gotty_py.server")

# The close reason the user's page shows, and the end's detail in the event log.
ENDED_BY_ADMIN = "ended by an administrator"


class SharingFacts(Protocol):
    """What a session's sharing says about it: how many watch, whether its owner is gone.

    The session hub (resume and shared sessions) provides one per session; a server without
    it has `NO_SHARING` for every session."""

    @property
    def observer_count(self) -> int: ...

    @property
    def detached(self) -> bool: ...


@dataclass(frozen=True)
class _NoSharing:
    observer_count: int = 0
    detached: bool = False


NO_SHARING: SharingFacts = _NoSharing()
SharingLookup = Callable[[Session], SharingFacts]


def no_sharing(session: Session) -> SharingFacts:
    """The `sharing=` of a server without shared or resumable sessions."""
    return NO_SHARING


def sharing_from(directory: SessionDirectory) -> SharingLookup:
    """The `sharing=` of a server with resume or shared sessions: the session's hub in the
    directory (webtty/sharing.py) says how many watch and whether its owner is gone."""
    def lookup(session: Session) -> SharingFacts:
        hub = directory.hub(session.facts.id) if session.facts else None
        return hub.state if hub is not None else NO_SHARING
    return lookup


@dataclass(frozen=True)
class LiveSession:
    """One running session as the admin view lists it: a snapshot, made when asked."""

    id: str
    user: str | None
    argv: tuple[str, ...]
    command: str  # argv as one safe shell line (server/commandline.py), as the log shows it
    target: Target | None
    client: str  # the client address the session was opened from
    started_at: float  # Unix time the client connected
    bytes_in: int  # input written to the command
    bytes_out: int  # output read from the command
    observers: int
    detached: bool

    def as_json(self) -> dict[str, object]:
        """The API's object for this session (docs/operations.md lists the keys)."""
        target = self.target
        return {
            "id": self.id,
            "user": self.user,
            "argv": list(self.argv),
            "command": self.command,
            "target": None if target is None else {
                "namespace": target.namespace, "pod": target.pod,
                "container": target.container},
            "client": self.client,
            "started_at": self.started_at,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "observers": self.observers,
            "detached": self.detached,
        }


class SessionRegistry(PluginDefaults):
    """Every running session of one server, by id (a plugin; see the module's rules)."""

    def __init__(self, sharing: SharingLookup = no_sharing) -> None:
        self._sharing = sharing
        self._running: dict[str, tuple[Session, str]] = {}  # id -> (session, command line)

    def __len__(self) -> int:
        return len(self._running)

    # --- ServerPlugin --------------------------------------------------------------------

    def observe(self) -> SessionObserver:
        return _Registration(self)

    # --- what the admin routes ask -------------------------------------------------------

    def sessions(self) -> list[LiveSession]:
        """The running sessions, oldest first."""
        views = [self._view(session, line) for session, line in self._running.values()]
        return sorted(views, key=lambda view: (view.started_at, view.id))

    def get(self, session_id: str) -> LiveSession | None:
        entry = self._running.get(session_id)
        return None if entry is None else self._view(*entry)

    def end(self, session_id: str, by: str, *, client: str = "") -> Session | None:
        """End a running session as `by` (an administrator) through the session's own end
        path: close 1008 with `ENDED_BY_ADMIN`, process tree ended, cleanup, audit with
        `ended_by`; `client` is where the administrator's request came from (the log
        line). The session, to await its end; None when no such session runs."""
        entry = self._running.get(session_id)
        if entry is None:
            return None
        session = entry[0]
        log.info("Session %s ended by administrator %s from %s", session_id, by,
                 client or "?", extra=session.log_fields)
        session.abort(EndCause.ADMIN_ENDED, ENDED_BY_ADMIN, CloseCode.POLICY_VIOLATION,
                      ended_by=by)
        return session

    # --- told by each session's observer -------------------------------------------------

    def _started(self, session: Session) -> None:
        assert session.facts is not None  # known before the command runs
        self._running[session.id] = (session, command_line(session.facts.argv))

    def _ended(self, session: Session) -> None:
        self._running.pop(session.id, None)

    def _view(self, session: Session, line: str) -> LiveSession:
        facts = session.facts
        assert facts is not None
        sharing = self._sharing(session)
        return LiveSession(
            id=session.id, user=facts.user, argv=facts.argv, command=line,
            target=facts.target, client=facts.remote_addr, started_at=facts.started_at,
            bytes_in=session.bytes_in, bytes_out=session.bytes_out,
            observers=sharing.observer_count, detached=sharing.detached)


class _Registration(SessionObserver):
    """One session's entry: in the registry while its command runs."""

    def __init__(self, registry: SessionRegistry) -> None:
        self._registry = registry

    def on_start(self, session: Session) -> None:
        self._registry._started(session)

    async def on_end(self, session: Session, end: SessionEnd) -> None:
        self._registry._ended(session)
