"""The remote cleanup hook: a command run after a session's process is gone.

Rules of this module: the operator's `cleanup_command` is split into words once, at
start-up (no shell is ever involved); each word may hold `{field}`s (the grammar of
`fields`) filled from the ended session's facts. Hooks run in the background and the
server waits for the running ones before it exits, so a shutdown cleans up too. This is
how a `kubectl exec` session ends the shell it left inside the pod (examples/kubernetes/).
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum

from ..backend.environment import session_environment
from ..backend.hooks import HookResult, run_hook
from ..backend.programs import ProgramNotUsable, find_program
from ..facts import SessionFacts
from ..fields import COMMAND_WORDS, FieldError, FieldText
from ..webtty.session import Session, SessionObserver
from ..webtty.state import SessionEnd

log = logging.getLogger("gotty_py.cleanup")

class CommandTemplateError(ValueError):
    pass


class CommandTemplate:
    """argv words with `{field}`s (`fields` grammar, values as the session had them); a
    word that is exactly `{args}` becomes every argument."""

    def __init__(self, source: str) -> None:
        try:
            words = shlex.split(source)
        except ValueError as exc:
            raise CommandTemplateError(f"cleanup_command {source!r}: {exc}") from None
        if not words:
            raise CommandTemplateError("cleanup_command is empty")
        try:
            self.words = [FieldText(word, COMMAND_WORDS) for word in words]
        except FieldError as exc:
            raise CommandTemplateError(f"cleanup_command {source!r}: {exc}") from None

    def check_program(self, environ: Mapping[str, str]) -> None:
        """At start-up: the program the first word names must be runnable (when the word
        holds no `{field}`, which only a session can fill)."""
        first = self.words[0]
        if first.has_fields:
            return
        try:
            find_program(first.text, environ)
        except ProgramNotUsable as exc:
            raise CommandTemplateError(f"cleanup_command: {exc}") from None

    def render(self, facts: SessionFacts) -> list[str]:
        argv: list[str] = []
        for word in self.words:
            if word.is_list:
                argv.extend(facts.args)
            else:
                argv.append(word.render(facts))
        return argv


HookReporter = Callable[[SessionFacts, HookResult], None]


class CleanupResult(StrEnum):
    """How one cleanup hook run went, in one stable word (a metric label)."""

    OK = "ok"  # exit status 0 within the deadline
    FAILED = "failed"  # a non-zero exit status or a signal
    TIMED_OUT = "timed-out"  # killed at --cleanup-timeout
    NOT_STARTED = "not-started"  # the command could not be started at all
    INTERRUPTED = "interrupted"  # killed at shutdown: the drain deadline passed


def cleanup_result(result: HookResult) -> CleanupResult:
    if result.error:
        return CleanupResult.NOT_STARTED
    if result.interrupted:
        return CleanupResult.INTERRUPTED
    if result.timed_out:
        return CleanupResult.TIMED_OUT
    return CleanupResult.OK if result.ok else CleanupResult.FAILED


class CleanupHooks:
    """Runs the cleanup command for every session that started a process (a plugin)."""

    def __init__(self, template: CommandTemplate, timeout: float, environ: Mapping[str, str],
                 reporters: Sequence[HookReporter] = ()) -> None:
        self.template = template
        self.timeout = timeout
        self.environ = dict(environ)
        self._reporters = tuple(reporters)  # told each run's outcome (audit trail, metrics)
        self._running: set[asyncio.Task[None]] = set()
        self._interrupt = asyncio.Event()  # set when the drain deadline has passed

    def observe(self) -> SessionObserver:
        return _HookObserver(self)

    def start(self) -> None:
        pass

    async def aclose(self) -> None:
        """Wait for the hooks still running (at shutdown)."""
        while self._running:
            await asyncio.wait(list(self._running))

    def interrupt(self) -> None:
        """The drain deadline has passed: kill the hooks still running (each is reported as
        killed at shutdown) and any started from now on."""
        self._interrupt.set()

    def run_for(self, facts: SessionFacts, log_fields: Mapping[str, str] | None = None) -> None:
        task = asyncio.ensure_future(self._run(facts, log_fields))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, facts: SessionFacts, log_fields: Mapping[str, str] | None) -> None:
        argv = self.template.render(facts)
        result = await run_hook(argv, session_environment(self.environ, facts), self.timeout,
                                self._interrupt)
        level = logging.INFO if result.ok else logging.WARNING
        output = " | ".join(line for line in result.output.splitlines() if line.strip())
        log.log(level, "Cleanup for session %s: %s%s", facts.id, result.describe(),
                f" ({output})" if output else "", extra=log_fields)
        for report in self._reporters:
            report(facts, result)


class _HookObserver(SessionObserver):
    def __init__(self, hooks: CleanupHooks) -> None:
        self._hooks = hooks

    async def on_end(self, session: Session, end: SessionEnd) -> None:
        if session.slave is not None and session.facts is not None:  # a process ran, is gone
            self._hooks.run_for(session.facts, session.log_fields)
