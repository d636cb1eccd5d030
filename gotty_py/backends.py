"""Which backend the options choose, made from its own options: the part of GoTTY's
`main.go` that builds the factory it hands to the server.

Rules of this module: the only place that turns `Options` into a `Backend`. The server
receives the backend ready-made and never reads a backend's options itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .backend.base import Backend
from .backend.instance import Instance
from .backend.localcommand import LocalCommandBackend, LocalCommandOptions
from .backend.sweep import sweep_dead_instances
from .backend.watchdog import Watchdog
from .options import Options

log = logging.getLogger("gotty_py.backend")


def backend_from_options(options: Options, environ: Mapping[str, str],
                         instance: Instance | None = None) -> Backend:
    """The local command backend (the only one so far), with its close signal and timeout;
    its session processes are marked with `instance` (this server, by default)."""
    local = LocalCommandOptions.from_gotty(options.close_signal, options.close_timeout,
                                           options.cwd)
    return LocalCommandBackend(local, environ, instance)


def crash_guard_from_options(options: Options, instance: Instance,
                             environ: Mapping[str, str]) -> Watchdog | None:
    """Under `--watchdog` (the default): end what dead instances left, then start this
    instance's watchdog. Called once the configuration is known good, before listening."""
    if not options.watchdog:
        return None
    local = LocalCommandOptions.from_gotty(options.close_signal, options.close_timeout)
    swept, result = sweep_dead_instances(instance, local.close_signal, local.close_timeout)
    if result.ended:
        log.warning("Ended %d process(es) left by gotty-py instance(s) whose server is dead "
                    "(%s; %d needed SIGKILL)", len(result.ended),
                    ", ".join(f"pid {seen.pid}" for seen in sorted(swept, key=str)),
                    result.killed)
    watchdog = Watchdog.start(instance, local.close_signal, local.close_timeout, environ)
    log.info("Watchdog started (pid %d): the sessions' processes end even if the server is "
             "killed", watchdog.pid)
    return watchdog
