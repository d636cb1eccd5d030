"""Per-address limits on WebSocket handshakes: how many may wait unstarted, and how often.

Rules of this module: a `HandshakeLimiter` is made once per server from
`--handshake-concurrency` and `--handshake-rate` and is asked once per `/ws` request, before
anything else is done for it. A connection holds its `Handshake` from then until its session
has started or it has gone, whichever comes first (`release`, idempotent); a session that
has started no longer counts, so a user's open terminals never do. The rate is a token
bucket per address (a burst of `rate`, then `rate` a minute). IPv6 clients are counted per
/64, the block one subscriber gets. What is tracked is bounded: addresses with nothing
pending are forgotten when the table is full, oldest first. A refusal is logged at most
once per address per `LOG_INTERVAL`, with how many were refused since; it is counted by
the caller (`ConnectionRefusal`). Pure bookkeeping: no I/O but the log line.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .refusals import ConnectionRefusal

log = logging.getLogger("gotty_py.server")

LOG_INTERVAL = 10.0  # seconds between two log lines about one address
MAX_TRACKED = 4096  # addresses remembered at once (those with a pending handshake stay)


def address_key(host: str) -> str:
    """What one client is counted as: an IPv4 address, an IPv6 /64, else the text."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


@dataclass(frozen=True)
class HandshakeRefused:
    reason: ConnectionRefusal
    text: str  # the 429 body
    retry_after: int  # seconds, for Retry-After


class Handshake:
    """One admitted handshake; `release` once its session has started or it has gone."""

    def __init__(self, release: Callable[[], None] | None) -> None:
        self._release = release

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


@dataclass
class _Address:
    tokens: float
    updated: float
    pending: int = 0
    logged_at: float = -math.inf
    unlogged: int = 0  # refusals since the last log line


class HandshakeLimiter:
    """One per server (see the module's rules)."""

    def __init__(self, *, concurrency: int, rate: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.concurrency = concurrency
        self.rate = rate  # handshakes a minute, also the burst
        self._clock = clock
        self._addresses: dict[str, _Address] = {}

    def __len__(self) -> int:
        return len(self._addresses)

    def admit(self, host: str) -> Handshake | HandshakeRefused:
        """A handshake from `host` (the client address, without port), or why not."""
        if not self.concurrency and not self.rate:
            return Handshake(None)
        key = address_key(host)
        now = self._clock()
        entry = self._entry(key, now)
        refused = self._check(entry, now)
        if refused is not None:
            self._log(key, entry, now, refused)
            return refused
        entry.pending += 1
        return Handshake(lambda: self._released(key))

    def _check(self, entry: _Address, now: float) -> HandshakeRefused | None:
        if self.concurrency and entry.pending >= self.concurrency:
            return HandshakeRefused(
                ConnectionRefusal.HANDSHAKE_CONCURRENCY,
                f"{entry.pending} connections without a session (--handshake-concurrency)", 1)
        if self.rate:
            per_second = self.rate / 60
            entry.tokens = min(float(self.rate),
                               entry.tokens + (now - entry.updated) * per_second)
            entry.updated = now
            if entry.tokens < 1:
                return HandshakeRefused(
                    ConnectionRefusal.HANDSHAKE_RATE,
                    f"over {self.rate} handshakes a minute (--handshake-rate)",
                    max(1, math.ceil((1 - entry.tokens) / per_second)))
            entry.tokens -= 1
        return None

    def _entry(self, key: str, now: float) -> _Address:
        entry = self._addresses.pop(key, None)  # re-inserted last: the table is in LRU order
        if entry is None:
            if len(self._addresses) >= MAX_TRACKED:
                self._forget(now)
            entry = _Address(tokens=float(self.rate), updated=now)
        self._addresses[key] = entry
        return entry

    def _forget(self, now: float) -> None:
        """Make room: drop idle addresses, oldest first, down to three quarters full."""
        target = MAX_TRACKED * 3 // 4
        for key in list(self._addresses):
            if len(self._addresses) <= target:
                return
            if self._addresses[key].pending == 0:
                del self._addresses[key]

    def _released(self, key: str) -> None:
        entry = self._addresses.get(key)
        if entry is not None and entry.pending > 0:
            entry.pending -= 1

    def _log(self, key: str, entry: _Address, now: float, refused: HandshakeRefused) -> None:
        if now - entry.logged_at < LOG_INTERVAL:
            entry.unlogged += 1
            return
        more = (f" ({entry.unlogged} more refused in the last {LOG_INTERVAL:g} s)"
                if entry.unlogged else "")
        entry.logged_at, entry.unlogged = now, 0
        log.warning("Refused WebSocket from %s: %s%s", key, refused.text, more,
                    extra={"client": key})
