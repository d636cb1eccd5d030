"""A session's states, the causes it can end with, and the record of how it ended.

Rules of this module: states and causes are enums, never bare strings, so that a new
member is a type error wherever a `match` ends in `assert_never`; their values are the
words the logs and the audit event log have always used (a `StrEnum` serializes as its
value). Which state may follow which is one table, `TRANSITIONS`, consulted by one helper,
`advance`. No I/O, no asyncio.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """waiting for init -> starting (authorizing, spawning) -> running -> ended."""

    INIT = "init"
    STARTING = "starting"
    RUNNING = "running"
    ENDED = "ended"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.INIT: frozenset({State.STARTING, State.ENDED}),
    State.STARTING: frozenset({State.RUNNING, State.ENDED}),
    State.RUNNING: frozenset({State.ENDED}),
    State.ENDED: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A bug: the session tried a move the table does not allow."""


def advance(current: State, to: State) -> State:
    """`to`, if the table allows it from `current`; otherwise InvalidTransition."""
    if to not in TRANSITIONS[current]:
        raise InvalidTransition(f"session state {current} cannot become {to}")
    return to


class EndCause(StrEnum):
    """Why a session ended; the `cause` of the event log's end line."""

    PROCESS_EXITED = "process-exited"
    CLIENT_CLOSED = "client-closed"  # the client went away; `Disconnect` says how
    PROTOCOL_ERROR = "protocol-error"  # a malformed frame or init
    REFUSED = "refused"  # authorization or a pre-spawn check said no
    START_FAILED = "start-failed"  # the backend could not start the command
    SHUTDOWN = "shutdown"  # the server is stopping
    INIT_TIMEOUT = "init-timeout"  # no init message within --init-timeout
    AUDIT_FAILED = "audit-failed"  # a required recording could not be written
    # The client stopped reading and was dropped with output still owed to it (`Undelivered`).
    CLIENT_STALLED = "client-stalled"
    INTERNAL_ERROR = "internal-error"  # a bug; logged with its traceback
    IDLE_TIMEOUT = "idle-timeout"  # no input from the client within --idle-timeout
    TIME_LIMIT = "time-limit"  # running for --max-session-time
    ADMIN_ENDED = "admin-ended"  # an administrator ended it (`SessionEnd.ended_by` says who)
    # Resume and sharing (webtty/sharing.py): the owner's connection was lost and no page
    # reattached within --detach-grace; a moderator ended it; and a connection whose init
    # attached it to another, running session (that one is never observed: nothing ran).
    DETACH_EXPIRED = "detach-expired"
    ENDED_BY_MODERATOR = "ended-by-moderator"
    HANDED_OVER = "handed-over"


class Disconnect(StrEnum):
    """How a client went away; the value is the end's detail text."""

    CLOSED = "client closed the connection"  # a WebSocket close frame
    LOST = "connection lost"  # TCP dropped, or the ping deadline passed


class AttachEvent(StrEnum):
    """A change in who is attached to a running session (the event log's `event`)."""

    DETACH = "detach"  # the owner's connection was lost; the process keeps running
    REATTACH = "reattach"  # the owner's page came back with its resume ticket
    JOIN = "join"  # an observer or moderator joined
    LEAVE = "leave"  # it left, or was dropped (the detail says why)


@dataclass(frozen=True)
class AttachNote:
    """One attach event: what happened, to which role, who (user, else client address)."""

    event: AttachEvent
    role: str
    who: str
    remote_addr: str
    detail: str = ""

    def describe(self) -> str:
        """The recording's marker text: `join observer bob (10.0.0.2:5000)`."""
        text = f"{self.event} {self.role} {self.who}"
        if self.remote_addr and self.remote_addr != self.who:
            text += f" ({self.remote_addr})"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass(frozen=True)
class Undelivered:
    """The client stopped reading: what it left unread when it was dropped, and after how
    long without taking a byte."""

    bytes: int
    seconds: float

    def describe(self) -> str:
        return (f"client stopped reading: {self.bytes} bytes of output undelivered, "
                f"dropped after {self.seconds:.0f} s")


@dataclass(frozen=True)
class SessionEnd:
    """How a session ended, for logs and the audit trail; made once, at the end."""

    cause: EndCause
    detail: str
    exit_status: int | None = None
    close_code: int | None = None
    disconnect: Disconnect | None = None  # set exactly when cause is CLIENT_CLOSED
    undelivered: int | None = None  # output bytes the client never got (CLIENT_STALLED)
    ended_by: str | None = None  # the administrator who ended it (ADMIN_ENDED), else None


def describe_exit(status: int | None) -> str:
    """`process exited with status N` or `process killed by signal NAME`: the close reason."""
    if status is None:
        return "process exited"
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = str(-status)
        return f"process killed by signal {name}"
    return f"process exited with status {status}"
