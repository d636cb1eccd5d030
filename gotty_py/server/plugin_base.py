"""What a server plugin does by default: nothing at start, at close or at the drain deadline.

Rules of this module: `PluginDefaults` is a mixin for `ServerPlugin`s (server/plugins.py)
that need only some of the lifecycle; it holds no state and decides nothing.
"""

from __future__ import annotations


class PluginDefaults:
    """No-op `start`, `aclose` and `interrupt`; a plugin overrides what it needs."""

    def start(self) -> None:
        """Nothing to start with the server."""

    async def aclose(self) -> None:
        """Nothing to close at shutdown."""

    def interrupt(self) -> None:
        """Nothing to cut short at the drain deadline."""
