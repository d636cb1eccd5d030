"""Admission: whether a new connection may open a session now, and the count of those open.

Rules of this module: it owns `--once`, `--max-connection`, the refusal while shutting down
and the connection count, and nothing else. A connection takes a `Slot` before the
WebSocket upgrade and gives it back exactly once: when its session has ended, or when the
upgrade failed. A slot that `hold`s a session gives itself back once that session has
ended (`Session.wait`), not through an observer, so no observer can leak a slot. `--once`
is claimed only by a session that every earlier pre-spawn check let through (the slot's
observer comes last), so a refused or unauthenticated client does not use it up. What the
server does when the count changes (the `--timeout` clock, exiting after `--once`) it is
told through a listener.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..webtty.session import Refused, Session, SessionObserver
from ..webtty.state import SessionEnd
from .commandline import command_line
from .refusals import ConnectionRefusal

log = logging.getLogger("gotty_py.server")

SHUTTING_DOWN = "Server is shutting down"


class AdmissionListener(Protocol):
    """The server's lifecycle, told when the count of connections changes."""

    def busy(self) -> None:
        """A connection was admitted while there was none."""

    def idle(self) -> None:
        """The last connection is gone."""

    def once_done(self) -> None:
        """The session that held `--once` has ended."""


@dataclass(eq=False)
class Slot:
    """One admitted connection."""

    remote_addr: str
    hang_up: Callable[[], None]  # closes the connection while it has no session yet
    started: Callable[[], None] = lambda: None  # its session has started (is authenticated)
    session: Session | None = None
    holds_once: bool = False
    released: asyncio.Task[None] | None = None  # done once the held session gave it back


class Admission:
    """One per server: the slots of the connections open now."""

    def __init__(self, *, once: bool, max_connection: int, listener: AdmissionListener) -> None:
        self.once = once
        self.max_connection = max_connection
        self._listener = listener
        self._slots: dict[int, Slot] = {}
        self._once_claimed = False
        self._closed = False
        # Whether any session has started (was authorized and spawned): `--exit-no-conn`
        # exits when the last client leaves only after one did, not for a port scanner.
        self.served = False

    def __len__(self) -> int:
        return len(self._slots)

    def slots(self) -> list[Slot]:
        return list(self._slots.values())

    def close(self) -> None:
        """Admit nothing more (the server is shutting down)."""
        self._closed = True

    @property
    def closed(self) -> bool:
        """True once the server has stopped admitting (draining or shutting down)."""
        return self._closed

    def refusal(self) -> str | None:
        """Why a new connection cannot be admitted now (the 503 text), or None."""
        found = self.check()
        return found[1] if found is not None else None

    def check(self) -> tuple[ConnectionRefusal, str] | None:
        """Why a new connection cannot be admitted now, as a stable reason and the 503
        text; None when it can."""
        if self._closed:
            return ConnectionRefusal.SHUTTING_DOWN, SHUTTING_DOWN
        if self.once and self._once_claimed:
            return ConnectionRefusal.ONCE_USED, SHUTTING_DOWN
        if self.max_connection and len(self._slots) >= self.max_connection:
            return (ConnectionRefusal.MAX_CONNECTION,
                    f"Too many connections (at most {self.max_connection})")
        return None

    def admit(self, remote_addr: str, hang_up: Callable[[], None],
              started: Callable[[], None] | None = None) -> Slot:
        """Take a slot (after `refusal` said None); `started` is called once its session
        has started."""
        slot = Slot(remote_addr, hang_up) if started is None else Slot(remote_addr, hang_up,
                                                                        started)
        self._slots[id(slot)] = slot
        if len(self._slots) == 1:
            self._listener.busy()
        return slot

    def hold(self, slot: Slot, session: Session) -> None:
        """The slot's connection has this session; the slot goes back when it has ended."""
        slot.session = session
        slot.released = asyncio.ensure_future(self._release_at_end(slot, session))

    async def _release_at_end(self, slot: Slot, session: Session) -> None:
        end: SessionEnd | None = None
        try:
            end = await session.wait()
        finally:
            self.release(slot, end)

    def observer(self, slot: Slot) -> SessionObserver:
        """The slot's observer of its session: claims `--once` last before the spawn."""
        return _SlotObserver(self, slot)

    def claim_once(self, slot: Slot) -> None:
        if not self.once:
            return
        if self._once_claimed:
            raise Refused("server accepts only one session (--once)")
        self._once_claimed = True
        slot.holds_once = True

    def release(self, slot: Slot, end: SessionEnd | None) -> None:
        """Give the slot back (once; a second call is ignored)."""
        if self._slots.pop(id(slot), None) is None:
            return
        reason = f"{end.cause}: {end.detail}" if end else "failed upgrade"
        log.info("Connection closed by %s: %s, connections: %d/%d", reason, slot.remote_addr,
                 len(self._slots), self.max_connection,
                 extra=slot.session.log_fields if slot.session else {"client": slot.remote_addr})
        if slot.holds_once:
            self._listener.once_done()
        elif not self._slots:
            self._listener.idle()


class _SlotObserver(SessionObserver):
    def __init__(self, admission: Admission, slot: Slot) -> None:
        self._admission = admission
        self._slot = slot

    async def before_spawn(self, session: Session) -> None:
        self._admission.claim_once(self._slot)

    def on_start(self, session: Session) -> None:
        self._admission.served = True
        self._slot.started()
        info = session.slave_info
        # The whole argv, the client's ?arg= and a token's arguments included: what this
        # session really runs, quoted, and escaped so it cannot act on a log reader's terminal.
        argv = command_line(session.facts.argv) if session.facts else "?"
        log.info("Command is running for client %s with %s: %s", self._slot.remote_addr,
                 info.summary if info else "?", argv, extra=session.log_fields)
