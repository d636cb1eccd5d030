"""Reconnect tickets: how a page reconnects when its launch token was single-use.

Rules of this module: a ticket is a random, single-use bearer value standing for one grant
(what a verified launch token allowed). It is handed only to the page of the session it
belongs to, becomes redeemable for a short window once that session has ended, and is
forgotten at redemption or expiry. `TicketStore` is the interface, async so that a shared
store (several replicas) never blocks the event loop; `MemoryTicketStore` is the one-process
default. A store that keeps grants outside this process is given a `GrantCodec` at
construction: auth/ does not know what a grant is made of (the server's codec does). A
shared store that cannot answer raises `StoreUnavailable` (auth/store.py). No I/O here; the
clock is injected.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")

TICKET_BYTES = 32
MAX_PENDING = 100_000  # tickets of running sessions plus armed ones, a bound on memory


class GrantCodec(Protocol[T]):
    """How a grant is written to, and read back from, a store outside this process."""

    def encode(self, grant: T) -> bytes: ...

    def decode(self, data: bytes) -> T:
        """The grant; ValueError when `data` is not one this codec wrote."""


class TicketStore(Protocol[T]):
    """Where tickets and the grants they stand for are kept.

    A shared store raises `StoreUnavailable` from any method when it cannot answer in time.
    """

    async def issue(self, grant: T) -> str:
        """A new ticket for `grant`, valid until `expire_after_end` arms its deadline;
        OverflowError when the store is full."""

    async def expire_after_end(self, ticket: str, window: float) -> None:
        """The issuing session ended: the ticket may be redeemed for `window` seconds."""

    async def redeem(self, ticket: str) -> T | None:
        """The grant, once; None for an unknown, used or expired ticket."""


@dataclass
class _Entry(Generic[T]):
    grant: T
    expires_at: float | None  # None while the issuing session runs


class MemoryTicketStore(Generic[T]):
    """A `TicketStore` in this process's memory; expired tickets are pruned as it is used."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry[T]] = {}

    async def issue(self, grant: T) -> str:
        self._prune()
        if len(self._entries) >= MAX_PENDING:
            raise OverflowError("too many reconnect tickets")
        ticket = secrets.token_urlsafe(TICKET_BYTES)
        self._entries[ticket] = _Entry(grant, None)
        return ticket

    async def expire_after_end(self, ticket: str, window: float) -> None:
        entry = self._entries.get(ticket)
        if entry is not None:
            entry.expires_at = self._clock() + window

    async def redeem(self, ticket: str) -> T | None:
        self._prune()
        entry = self._entries.pop(ticket, None)
        return entry.grant if entry is not None else None

    def __len__(self) -> int:
        return len(self._entries)

    def _prune(self) -> None:
        now = self._clock()
        expired = [t for t, e in self._entries.items()
                   if e.expires_at is not None and e.expires_at <= now]
        for ticket in expired:
            del self._entries[ticket]
