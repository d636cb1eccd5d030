"""Which store `--store` chooses for used `jti`s and reconnect tickets, built once.

Rules of this module: `stores_from_options` parses the option once (a value that cannot be
used is `StartupError` exit 2 naming the option) and returns the replay store, the ticket
store and, for Redis, its readiness check and the plugin that owns the client. A Redis that
is unreachable at start-up does not stop the server (a Redis restart must not crash-loop
the console): the plugin logs a warning, readiness says why, and launches are refused until
it answers. The Redis client is imported only when Redis is chosen.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..auth.replay import MemoryReplayStore, ReplayStore
from ..auth.store import StoreConfigError, StoreKind, StoreUnavailable, parse_store
from ..auth.tickets import MemoryTicketStore, TicketStore
from ..options import Options
from ..webtty.session import Launch, SessionObserver
from .health import HealthCheck
from .launch_codec import LAUNCH_CODEC
from .plugin_base import PluginDefaults
from .startup import ExitCode, StartupError

if TYPE_CHECKING:
    from ..auth.redis_store import RedisStore

log = logging.getLogger("gotty_py.server")

# Readiness probes have a short deadline of their own (Kubernetes: 1 s by default).
HEALTH_PING_TIMEOUT = 0.5


@dataclass(frozen=True)
class Stores:
    """The stores of one server; `plugin` and `health` are set for a shared store."""

    replay: ReplayStore
    tickets: TicketStore[Launch]
    description: str = "memory (this process only)"
    plugin: SharedStorePlugin | None = None
    health: tuple[HealthCheck, ...] = ()

    @property
    def shared(self) -> bool:
        return self.plugin is not None


def memory_stores() -> Stores:
    return Stores(replay=MemoryReplayStore(), tickets=MemoryTicketStore())


def stores_from_options(options: Options) -> Stores:
    """The stores `--store` names; StartupError (exit 2) for a value that cannot be used."""
    try:
        choice = parse_store(options.store)
    except StoreConfigError as exc:
        raise StartupError(ExitCode.CONFIG, str(exc)) from None
    if choice.kind is StoreKind.MEMORY:
        return memory_stores()
    assert choice.redis is not None
    # Here, not at the top: the client library costs ~0.1 s to import, and only a server
    # configured for Redis should pay it.
    from ..auth.redis_store import RedisStore

    store = RedisStore(choice.redis)
    return Stores(replay=store.replay(), tickets=store.tickets(LAUNCH_CODEC),
                  description=store.describe(), plugin=SharedStorePlugin(store),
                  health=(StoreHealth(store),))


class StoreHealth:
    """Readiness of the shared store: a PING within `HEALTH_PING_TIMEOUT`."""

    name = "store"

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    async def problem(self) -> str | None:
        try:
            await self._store.ping(HEALTH_PING_TIMEOUT)
        except StoreUnavailable as exc:
            return f"the shared token store is unreachable: {exc}"
        return None


class SharedStorePlugin(PluginDefaults):
    """Owns the Redis client: says at start-up whether Redis answers, closes it at the end.

    A `ServerPlugin` (server/plugins.py) whose sessions need nothing of it.
    """

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._check: asyncio.Task[None] | None = None

    def observe(self) -> SessionObserver:
        return _NOTHING

    def start(self) -> None:
        self._check = asyncio.ensure_future(self._check_reachable())

    async def _check_reachable(self) -> None:
        try:
            await self._store.ping(self._store.address.deadline)
        except StoreUnavailable as exc:
            log.warning("Warning: the shared token store is unreachable: %s; launches are "
                        "refused until it answers", exc)
            return
        log.info("Shared token store reachable: %s", self._store.describe())

    async def aclose(self) -> None:
        if self._check is not None and not self._check.done():
            self._check.cancel()
            await asyncio.gather(self._check, return_exceptions=True)
        await self._store.aclose()


_NOTHING = SessionObserver()
