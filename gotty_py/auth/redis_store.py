"""Used `jti`s and reconnect tickets in Redis, shared by every replica of the console.

Rules of this module: one `RedisStore` owns one client (`redis.asyncio`) for a server's
replay store and ticket store. Every command runs under a deadline (a connection attempt
plus a round trip, `RedisAddress.deadline`), is retried at most once on a fresh connection
(a Redis that restarted leaves stale ones), and any failure becomes `StoreUnavailable`:
nothing is ever answered from a guess, so a launch is refused rather than let through
without its single-use check. Each operation is one atomic command, so replicas racing on
the same token or ticket get exactly one winner. Grants are written with the codec the
store was given; this module does not know what a grant is.

Keys (document them to operators; one Redis database per console):

- `gotty-py:jti:<jti>`: "1", `SET ... NX EXAT <exp + leeway>`; gone when the token is.
- `gotty-py:ticket:<sha256 of the ticket>`: the encoded grant, `SET ... NX EX 12 h` while
  its session runs, `PEXPIRE <window>` once it has ended, `GETDEL` to redeem. The ticket
  itself (a bearer secret) is never written to Redis, only its hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .store import RedisAddress, StoreUnavailable
from .tickets import TICKET_BYTES, GrantCodec

log = logging.getLogger("gotty_py.auth")

T = TypeVar("T")
R = TypeVar("R")

JTI_PREFIX = "gotty-py:jti:"
TICKET_PREFIX = "gotty-py:ticket:"
# How long a running session's ticket is kept (seconds): bounds what a replica that died
# mid-session leaves behind. A session longer than this reconnects with a new launch link.
RUNNING_TICKET_TTL = 12 * 3600


class RedisStore:
    """The Redis client of one server; `replay()` and `tickets()` share it."""

    def __init__(self, address: RedisAddress) -> None:
        self.address = address
        # The client connects lazily: creating it does no I/O, so start-up never waits on
        # Redis and a Redis that is down at start-up only makes launches wait for it.
        self._client = redis.asyncio.Redis(
            host=address.host, port=address.port, db=address.db,
            username=address.username, password=address.password,
            ssl=address.tls, ssl_ca_certs=address.ca_certs,
            ssl_certfile=address.certfile, ssl_keyfile=address.keyfile,
            socket_connect_timeout=address.connect_timeout,
            socket_timeout=address.socket_timeout,
            # Once, at once: a stale pooled connection after a Redis restart fails fast and
            # the retry opens a fresh one; the library's default (10 with backoff) would
            # hold a session start for seconds while Redis is down.
            retry=Retry(NoBackoff(), 1),
            client_name="gotty-py",
        )

    def describe(self) -> str:
        return self.address.describe()

    def replay(self) -> RedisReplayStore:
        return RedisReplayStore(self)

    def tickets(self, codec: GrantCodec[T]) -> RedisTicketStore[T]:
        return RedisTicketStore(self, codec)

    async def ping(self, timeout: float) -> None:
        """Return when Redis answers PING within `timeout` seconds; else StoreUnavailable."""
        await self.call("PING", self._client.ping, timeout)

    async def call(self, what: str, command: Callable[[], Awaitable[R]],
                   timeout: float | None = None) -> R:
        """`command()` under the deadline; every failure is StoreUnavailable."""
        deadline = self.address.deadline if timeout is None else timeout
        try:
            async with asyncio.timeout(deadline):
                return await command()
        except TimeoutError:
            raise StoreUnavailable(f"{self.describe()}: no answer to {what} within "
                                   f"{deadline:g} s") from None
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"{self.describe()}: {what} failed: "
                                   f"{_reason(exc)}") from None

    async def aclose(self) -> None:
        """Close every connection of the client (at the server's shutdown)."""
        await self._client.aclose()

    @property
    def client(self) -> redis.asyncio.Redis:
        return self._client


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text or type(exc).__name__


class RedisReplayStore:
    """A `ReplayStore` in Redis: first claim wins, across every replica."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    async def claim(self, jti: str, expires_at: float) -> bool:
        client = self._store.client
        # EXAT takes whole seconds; rounding up keeps the jti at least as long as the token.
        done = await self._store.call("SET NX EXAT", lambda: client.set(
            JTI_PREFIX + jti, b"1", nx=True, exat=math.ceil(expires_at)))
        return bool(done)


class RedisTicketStore(Generic[T]):
    """A `TicketStore` in Redis: a ticket issued on one replica redeems on any, once."""

    def __init__(self, store: RedisStore, codec: GrantCodec[T]) -> None:
        self._store = store
        self._codec = codec

    async def issue(self, grant: T) -> str:
        data = self._codec.encode(grant)
        while True:  # NX: a ticket is never written over another (2^-256 says: once)
            ticket = secrets.token_urlsafe(TICKET_BYTES)
            if await self._put_new(_ticket_key(ticket), data):
                return ticket

    async def _put_new(self, key: str, data: bytes) -> bool:
        client = self._store.client
        return bool(await self._store.call("SET NX EX", lambda: client.set(
            key, data, nx=True, ex=RUNNING_TICKET_TTL)))

    async def expire_after_end(self, ticket: str, window: float) -> None:
        client = self._store.client
        milliseconds = max(1, math.ceil(window * 1000))
        # A ticket already redeemed (or expired) is simply not there: PEXPIRE does nothing.
        await self._store.call("PEXPIRE", lambda: client.pexpire(
            _ticket_key(ticket), milliseconds))

    async def redeem(self, ticket: str) -> T | None:
        client = self._store.client
        data = await self._store.call("GETDEL", lambda: client.getdel(_ticket_key(ticket)))
        if data is None:
            return None
        try:
            return self._codec.decode(bytes(data) if not isinstance(data, str)
                                      else data.encode("utf-8"))
        except ValueError as exc:
            # Written by another version or by hand: refused like an unknown ticket.
            log.warning("Reconnect ticket refused: its stored grant cannot be read (%s)", exc)
            return None


def _ticket_key(ticket: str) -> str:
    digest = hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()
    return TICKET_PREFIX + digest
