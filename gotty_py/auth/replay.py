"""Single use of launch tokens: remember each `jti` until its token has expired.

Rules of this module: a `ReplayStore` answers one question, atomically, "is this the first
time this jti is claimed?". The interface is async, so that a networked store never blocks
the event loop. The in-memory store is right for one gotty-py process; several replicas
behind a load balancer share a Redis with the same interface (auth/redis_store.py:
`SET jti 1 NX EXAT expires_at`). A shared store that cannot answer raises
`StoreUnavailable` (auth/store.py) rather than guess. No I/O here.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Protocol


class ReplayStore(Protocol):
    """Where used token ids are remembered."""

    async def claim(self, jti: str, expires_at: float) -> bool:
        """Record `jti` as used until `expires_at` (a Unix time); False if already used.

        After `expires_at` the token itself is expired, so forgetting the jti then cannot
        let a replay through; that bounds the store's size by the tokens still valid.
        A shared store raises `StoreUnavailable` when it cannot say.
        """


class MemoryReplayStore:
    """A `ReplayStore` in this process's memory; expired entries are pruned on each claim."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._queue: list[tuple[float, str]] = []  # (expires_at, jti), earliest first

    def __len__(self) -> int:
        return len(self._expiry)

    async def claim(self, jti: str, expires_at: float) -> bool:
        self._prune(self._clock())
        if jti in self._expiry:
            return False
        self._expiry[jti] = expires_at
        heapq.heappush(self._queue, (expires_at, jti))
        return True

    def _prune(self, now: float) -> None:
        queue = self._queue
        while queue and queue[0][0] < now:
            expires_at, jti = heapq.heappop(queue)
            if self._expiry.get(jti) == expires_at:
                del self._expiry[jti]
