"""What a backend is: the contract between a session and the thing that runs its command.

Rules of this module: it declares interfaces and plain values only. A `Backend` is made
once at start-up from its own options (GoTTY's `Factory`, passed in from `main`) and
starts one `Slave` per session from a `StartRequest`; the session sees nothing else of it.
Neither side knows the other's insides: the session never asks for a PID, a backend never
sees the WebSocket. Everything a backend may want to say about what it started (for the
window title, the logs, the audit trail) it says once, in `describe()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..facts import SessionFacts

if TYPE_CHECKING:
    from .hooks import HookResult


class BackendConfigError(Exception):
    """The options chose a backend that cannot work as configured (exit 2 at start-up);
    the text names the option and why."""


class CommandUnusable(Exception):
    """No session could ever start this command (checked at start-up); the text says why."""


class StartFailed(Exception):
    """The command could not be started; the text is shown to the user (close 1011)."""


class StartRefused(StartFailed):
    """The backend's own policy refuses this session (a Kubernetes target outside it, an
    access review that says no): close 1008 and the end cause `refused`, as a grant's
    refusal; nothing was started."""


@dataclass(frozen=True)
class StartRequest:
    """What to start: the session's facts (argv, size, id, user, target) and extras."""

    facts: SessionFacts
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment (--pass-headers)


@dataclass(frozen=True)
class SlaveInfo:
    """What a backend says about what it started, computed once at start."""

    summary: str  # for log lines: "pid 4242"
    # GoTTY's title variables of the process (the local command: command, argv, pid); the
    # audit trail records `pid` from here when there is one.
    variables: Mapping[str, Any] = field(default_factory=dict)


class Slave(Protocol):
    """One running command, as the session drives it."""

    def describe(self) -> SlaveInfo: ...

    async def read(self) -> bytes:
        """The next chunk of output; b"" once the process is gone and its output drained."""

    def write(self, data: bytes) -> None:
        """Queue input for the process; never blocks and never drops data."""

    @property
    def input_backlogged(self) -> bool:
        """True when so much input is queued that the client should be read no further."""

    async def drain_input(self) -> None:
        """Return once the queued input is small again."""

    def resize(self, columns: int, rows: int) -> None: ...

    def input_hidden(self) -> bool | None:
        """Whether input typed now is kept off the screen, as at a password prompt: the
        terminal in line mode (ICANON) with ECHO cleared (`read -s`, sudo, ssh, getpass).
        False otherwise, raw mode included (shell line editors and editors clear ECHO to
        echo for themselves); None where the backend cannot tell. Read-only, and cheap
        enough to ask for every input message."""

    async def close(self) -> None:
        """End the command and everything it started, and wait until that is done."""

    @property
    def exit_status(self) -> int | None:
        """Like `subprocess.Popen.returncode`: negative for a signal, None while running."""


@runtime_checkable
class CleansUpTarget(Protocol):
    """A slave whose `close` also ends what the session left where it ran (the kubernetes
    backend's second exec into the pod). Once `close` has returned, `cleanup_result` says
    how that went (None when it did not run); the audit trail logs it as the cleanup hook's
    outcome."""

    @property
    def cleanup_result(self) -> HookResult | None: ...


def target_cleanup(slave: object) -> HookResult | None:
    """The outcome of a slave's own cleanup in its target, if it has one."""
    return slave.cleanup_result if isinstance(slave, CleansUpTarget) else None


class Backend(Protocol):
    """Starts the command of each session; one per server, made from its own options."""

    @property
    def name(self) -> str:
        """For the start-up log: `local command`."""

    @property
    def close_time(self) -> float:
        """The longest `Slave.close` can take, in seconds: what a drain must allow each
        session to end."""

    def check_command(self, command: Sequence[str]) -> None:
        """At start-up, before any client: raise `CommandUnusable` when no session could
        start `command` (its arguments may still come from each client)."""

    async def start(self, request: StartRequest) -> Slave:
        """Start the command the request describes, or raise `StartFailed`."""
