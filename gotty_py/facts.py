"""The facts of one session, computed once and handed to everyone who needs them.

Rules of this module: `SessionFacts` is a frozen value, made by the session once the grant
has decided what runs and for whom, and before anything is spawned; observers, the backend,
the cleanup hook and recording file names read it and never rebuild it from other parts.
This module imports nothing of gotty-py, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The terminal the browser page emulates (xterm.js): TERM for the command, and the
# recording's `env`.
TERMINAL_TYPE = "xterm-256color"


@dataclass(frozen=True)
class Target:
    """Where the command runs when that is not this machine: a container of a pod.

    A backend that enters a pod (the Kubernetes backend) names it from the launch token's
    claims; a local command has no target.
    """

    namespace: str
    pod: str
    container: str | None = None


@dataclass(frozen=True)
class SessionFacts:
    """Who a session is for, what it runs, from where, at what size."""

    id: str  # random, 16 hex digits; GOTTY_SESSION_ID for the command
    started_at: float  # Unix time the client connected
    remote_addr: str  # host:port of the client as the server saw it
    user: str | None  # the launch token's `sub`; None without one
    argv: tuple[str, ...]  # the whole command line, the command first
    size: tuple[int, int]  # columns and rows the terminal starts with
    writable: bool = False  # whether the client's input reaches the command
    claims: Mapping[str, Any] = field(default_factory=dict)  # the verified token's claims
    user_agent: str | None = None
    hostname: str = ""  # the server's host
    target: Target | None = None

    @property
    def command(self) -> str:
        """The command as given (a path or a name looked up in PATH)."""
        return self.argv[0] if self.argv else ""

    @property
    def args(self) -> tuple[str, ...]:
        """The command's arguments: the server's own, then those the grant added."""
        return self.argv[1:]
