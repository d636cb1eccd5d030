"""`--audit-checkpoint-command`: each signed checkpoint handed to an operator's command.

Rules of this module: the command (argv from the option, no shell) gets one checkpoint
note on its stdin and CHECKPOINT_COMMAND_TIMEOUT seconds to exit 0; it runs on the event
loop through `run_hook`, never in the writer thread, so a slow or hung command delays
neither the audit trail nor a session. One runs at a time; while it runs, only the newest
waiting note is kept (a checkpoint covers everything its predecessors did, so shipping
the newest loses nothing an auditor needs), and the superseded ones are counted. Failures
are logged and counted, never retried. At shutdown the final checkpoint is shipped
before the server exits.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Mapping

from ..backend.hooks import run_hook
from ..backend.programs import ProgramNotUsable, find_program

log = logging.getLogger("gotty_py.audit")

CHECKPOINT_COMMAND_TIMEOUT = 10.0


class CheckpointCommandError(ValueError):
    """The option cannot work (exit 2 at start-up)."""


class CheckpointCommand:
    """Runs the command for each checkpoint offered (loop thread only)."""

    def __init__(self, source: str, environ: Mapping[str, str]) -> None:
        try:
            self.argv = shlex.split(source)
        except ValueError as exc:
            raise CheckpointCommandError(f"audit_checkpoint_command {source!r}: {exc}") from None
        if not self.argv:
            raise CheckpointCommandError("audit_checkpoint_command is empty")
        try:
            find_program(self.argv[0], environ)
        except ProgramNotUsable as exc:
            raise CheckpointCommandError(f"audit_checkpoint_command: {exc}") from None
        self.environ = dict(environ)
        self.runs = 0
        self.failures = 0
        self.superseded = 0  # notes replaced by a newer one before their turn
        self._waiting: str | None = None
        self._task: asyncio.Task[None] | None = None

    def offer(self, note: str) -> None:
        """Ship `note` now, or after the run in progress (replacing a note still waiting)."""
        if self._waiting is not None:
            self.superseded += 1
        self._waiting = note
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._waiting is not None:
            note, self._waiting = self._waiting, None
            result = await run_hook(self.argv, self.environ, CHECKPOINT_COMMAND_TIMEOUT,
                                    stdin=note.encode())
            self.runs += 1
            if not result.ok:
                self.failures += 1
                log.error("Audit: the checkpoint command %s failed (%d of %d runs): %s%s",
                          shlex.join(self.argv), self.failures, self.runs, result.describe(),
                          f": {result.output}" if result.output else "")

    async def aclose(self) -> None:
        """Wait for the notes offered so far to be shipped (the final one included)."""
        while self._task is not None and not self._task.done():
            await self._task
