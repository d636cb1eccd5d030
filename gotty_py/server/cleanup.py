"""The remote cleanup hook: a command run after a session's process is gone.

Rules of this module: the operator's `cleanup_command` is split into words once, at
start-up (no shell is ever involved); each word may hold `{field}`s filled from the ended
session's variables. Hooks run in the background and the server waits for the running
ones before it exits, so a shutdown cleans up too. This is how a `kubectl exec` session
ends the shell it left inside the pod (examples/kubernetes/).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import string
from collections.abc import Callable, Mapping
from typing import Any

from ..backend.hooks import HookResult, run_hook
from ..webtty.session import Session, SessionObserver
from ..webtty.state import SessionEnd

log = logging.getLogger("gotty_py.cleanup")

FIELDS = ("session", "user", "remote_addr", "command", "args")
_ARG_FIELD = re.compile(r"arg(\d+)$")
_CLAIM_FIELD = re.compile(r"claim\.([A-Za-z0-9_.-]+)$")


class CommandTemplateError(ValueError):
    pass


def session_variables(session: Session) -> dict[str, Any]:
    """The variables a hook can use: who, from where, what ran."""
    process = session.slave.title_variables() if session.slave is not None else {}
    launch = session.launch
    return {
        "session": session.id,
        "user": (launch.user if launch is not None else None) or "",
        "remote_addr": session.remote_addr,
        "command": process.get("command", ""),
        "args": list(process.get("argv", [])),
        "claims": dict(launch.claims) if launch is not None else {},
    }


def _check_field(name: str, source: str) -> None:
    if name in FIELDS or _ARG_FIELD.match(name) or _CLAIM_FIELD.match(name):
        return
    raise CommandTemplateError(
        f"cleanup_command {source!r}: unknown field {{{name}}} (known: "
        + ", ".join("{" + f + "}" for f in (*FIELDS, "arg0", "arg1", "claim.NAME")) + ")")


class CommandTemplate:
    """argv words with `{field}`s; a word that is exactly `{args}` becomes every argument."""

    def __init__(self, source: str) -> None:
        try:
            self.words = shlex.split(source)
        except ValueError as exc:
            raise CommandTemplateError(f"cleanup_command {source!r}: {exc}") from None
        if not self.words:
            raise CommandTemplateError("cleanup_command is empty")
        for word in self.words:
            try:
                parsed = list(string.Formatter().parse(word))
            except ValueError as exc:
                raise CommandTemplateError(f"cleanup_command word {word!r}: {exc}") from None
            for _, name, spec, conversion in parsed:
                if name is None:
                    continue
                if spec or conversion:
                    raise CommandTemplateError(
                        f"cleanup_command word {word!r}: no format specs or conversions")
                _check_field(name, source)
                if name == "args" and word != "{args}":
                    raise CommandTemplateError(
                        "cleanup_command: {args} must be a word of its own")

    def render(self, variables: Mapping[str, Any]) -> list[str]:
        argv: list[str] = []
        for word in self.words:
            if word == "{args}":
                argv.extend(variables.get("args", []))
                continue
            out = []
            for literal, name, _, _ in string.Formatter().parse(word):
                out.append(literal)
                if name is not None:
                    out.append(_lookup(name, variables))
            argv.append("".join(out))
        return argv


def _lookup(name: str, variables: Mapping[str, Any]) -> str:
    arg = _ARG_FIELD.match(name)
    if arg:
        args = variables.get("args", [])
        index = int(arg.group(1))
        return str(args[index]) if index < len(args) else ""
    claim = _CLAIM_FIELD.match(name)
    if claim:
        value = variables.get("claims", {}).get(claim.group(1))
        return "" if value is None else str(value)
    value = variables.get(name)
    return "" if value is None else str(value)


HookReporter = Callable[[Session, HookResult], None]


class CleanupHooks:
    """Runs the cleanup command for every session that started a process."""

    def __init__(self, template: CommandTemplate, timeout: float,
                 environ: Mapping[str, str]) -> None:
        self.template = template
        self.timeout = timeout
        self.environ = dict(environ)
        self.reporters: list[HookReporter] = []
        self._running: set[asyncio.Task[None]] = set()

    def observer(self, session: Session, _client: object) -> SessionObserver:
        return _HookObserver(self)

    def start(self, session: Session) -> None:
        task = asyncio.ensure_future(self._run(session))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, session: Session) -> None:
        variables = session_variables(session)
        argv = self.template.render(variables)
        env = {k: v for k, v in self.environ.items() if not k.startswith("GOTTY_")}
        env["GOTTY_SESSION_ID"] = session.id
        if variables["user"]:
            env["GOTTY_USER"] = variables["user"]
        result = await run_hook(argv, env, self.timeout)
        level = logging.INFO if result.ok else logging.WARNING
        output = " | ".join(line for line in result.output.splitlines() if line.strip())
        log.log(level, "Cleanup for session %s: %s%s", session.id, result.describe(),
                f" ({output})" if output else "")
        for report in self.reporters:
            report(session, result)

    async def drain(self) -> None:
        """Wait for the hooks still running (at shutdown)."""
        while self._running:
            await asyncio.wait(list(self._running))


class _HookObserver(SessionObserver):
    def __init__(self, hooks: CleanupHooks) -> None:
        self._hooks = hooks

    def on_end(self, session: Session, end: SessionEnd) -> None:
        if session.slave is not None:  # a process ran, and is gone by now
            self._hooks.start(session)
