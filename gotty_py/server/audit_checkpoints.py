"""The signed checkpoints of one server's event log (`--audit-checkpoint-*`), put together.

Rules of this module: built once from the options, at start-up, where every option that
cannot work is refused (`CheckpointConfigError`, exit 2): a key without an event log, a
key that cannot be used, a copy or a command without a key, a copy that is the log. It
gives the event log its `Checkpointer` (with the copy and the command as publishers) and
runs the timer that asks the writer thread for a checkpoint every quarter interval, so an
idle log gets one too; at shutdown it queues the final checkpoint and then waits for the
command to have shipped it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

from ..audit.checkpoints import Checkpoint, CheckpointCopy, Checkpointer, CheckpointKind, Publisher
from ..audit.events import EventLog
from ..audit.signing import KeyFileError, load_signer
from ..audit.writer import BackgroundWriter
from ..config import expand_home
from ..options import Options
from .checkpoint_command import CheckpointCommand, CheckpointCommandError


class CheckpointConfigError(ValueError):
    """The checkpoint options cannot work; the message names the option."""


class Checkpointing:
    """The checkpointer, the copy, the command and the timer of one server."""

    def __init__(self, checkpointer: Checkpointer, writer: BackgroundWriter,
                 copy: CheckpointCopy | None, command: CheckpointCommand | None) -> None:
        self.checkpointer = checkpointer
        self.writer = writer
        self.copy = copy
        self.command = command
        self._ticker: asyncio.TimerHandle | None = None

    @classmethod
    def from_options(cls, options: Options, event_log_path: str | None,
                     environ: Mapping[str, str], writer: BackgroundWriter
                     ) -> Checkpointing | None:
        """None without a signing key; CheckpointConfigError when the options cannot work."""
        if not options.audit_checkpoint_key:
            for name in ("audit_checkpoint_copy", "audit_checkpoint_command"):
                if getattr(options, name):
                    raise CheckpointConfigError(
                        f"{name} (--{name.replace('_', '-')}) needs audit_checkpoint_key "
                        "(--audit-checkpoint-key)")
            return None
        if event_log_path is None:
            raise CheckpointConfigError("audit_checkpoint_key (--audit-checkpoint-key) signs "
                                        "the event log: set audit_dir or audit_event_log")
        try:
            signer = load_signer(expand_home(options.audit_checkpoint_key))
        except KeyFileError as exc:
            raise CheckpointConfigError(
                f"audit_checkpoint_key (--audit-checkpoint-key): {exc}") from None
        copy: CheckpointCopy | None = None
        if options.audit_checkpoint_copy:
            path = expand_home(options.audit_checkpoint_copy)
            if os.path.abspath(path) == os.path.abspath(event_log_path):
                raise CheckpointConfigError(
                    "audit_checkpoint_copy (--audit-checkpoint-copy) is the event log itself: "
                    "name a file on another volume")
            copy = CheckpointCopy(path)
        command: CheckpointCommand | None = None
        if options.audit_checkpoint_command:
            try:
                command = CheckpointCommand(options.audit_checkpoint_command, environ)
            except CheckpointCommandError as exc:
                raise CheckpointConfigError(str(exc)) from None
        publishers: list[Publisher] = [copy] if copy is not None else []
        if command is not None:
            def ship(note: str, _checkpoint: Checkpoint) -> None:  # in the writer thread
                writer.to_loop(command.offer, note)
            publishers.append(ship)
        checkpointer = Checkpointer(signer, options.audit_checkpoint_lines,
                                    options.audit_checkpoint_seconds, publishers=publishers)
        return cls(checkpointer, writer, copy, command)

    def describe(self) -> str:
        """For the start-up line."""
        return (f"signed checkpoints every {self.checkpointer.interval_lines} lines or "
                f"{self.checkpointer.interval_seconds} s, key {self.checkpointer.signer.name}")

    def start(self, event_log: EventLog) -> None:
        """Start the timer (on the loop, after the writer)."""
        self.writer.submit(event_log.checkpoint)
        # A quarter of the interval: the newest checkpoint is never older than 1.25 of it
        # (plus the writer's backlog).
        period = max(0.25, self.checkpointer.interval_seconds / 4)
        self._ticker = asyncio.get_running_loop().call_later(period, self.start, event_log)

    def stop(self, event_log: EventLog) -> None:
        """At shutdown, after every other line: the final checkpoint, then the copy closed."""
        if self._ticker is not None:
            self._ticker.cancel()
        self.writer.submit(event_log.checkpoint, CheckpointKind.FINAL, False)
        if self.copy is not None:
            self.writer.submit(self.copy.close)

    async def shipped(self) -> None:
        """After the writer has stopped: wait for the command to ship the final checkpoint."""
        if self.command is not None:
            await self.command.aclose()
