"""The server's plugins: the grant and the features that take part in every session
(the shared store, metrics, reconnect tickets, audit, cleanup), built once from the options.

Rules of this module: `plugins_from_options` is the one place that decides which plugins a
server has and in what order; nothing is added to them afterwards. It builds the store
`--store` names first and gives it to the launch-token verifier (used `jti`s) and the grant
(reconnect tickets) at their construction. Each feature gives every
new session an observer of its own (`observe`), is started with the server and closed,
in reverse order, once every session has ended. A feature that cannot work with the given
options refuses the start-up (exit 2).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..auth.tickets import TicketStore
from ..options import NO_ORIGINS, Options, Origins
from ..webtty.session import Launch, SessionObserver
from ..webtty.sharing import SessionDirectory
from .audit_health import AuditHealth
from .audit_observer import AuditConfigError, AuditService
from .cleanup import CleanupHooks, CommandTemplate, CommandTemplateError, HookReporter
from .grant import LaunchGrant, TicketArming
from .health import HealthCheck
from .metrics import ServerMetrics
from .registry import SessionRegistry, no_sharing, sharing_from
from .startup import ExitCode, StartupError, launch_token_verifier
from .stores import memory_stores, stores_from_options

log = logging.getLogger("gotty_py.server")


class ServerPlugin(Protocol):
    """A server-wide feature that takes part in every session."""

    def observe(self) -> SessionObserver:
        """This feature's observer of one new session."""

    def start(self) -> None:
        """With the server, before the first connection."""

    async def aclose(self) -> None:
        """At shutdown, once every session has ended (in reverse order of the plugins)."""

    def interrupt(self) -> None:
        """The drain deadline has passed while `aclose` waits: cut short what it waits for
        (what must still be written, such as the audit trail, is written all the same)."""


@dataclass(frozen=True)
class Plugins:
    grant: LaunchGrant
    # In the order they see each session: the shared store (closed last, after everything
    # that may still use it), the metrics, the live-session registry, the ticket arming,
    # the audit trail, then the cleanup hook (which reports to the audit trail, so it
    # closes first).
    features: tuple[ServerPlugin, ...]
    # What readiness asks before it says the server can take sessions (server/health.py).
    health: tuple[HealthCheck, ...] = ()
    # With an operations listener (--ops-port): what /metrics shows; also one of `features`.
    metrics: ServerMetrics | None = None
    # With --admin-credential: the running sessions the admin routes list and end; also one
    # of `features`.
    registry: SessionRegistry | None = None


def plugins_from_options(options: Options, command: Sequence[str], environ: Mapping[str, str],
                         hostname: str, *, origins: Origins = NO_ORIGINS,
                         directory: SessionDirectory | None = None) -> Plugins:
    """Every plugin the options ask for; StartupError when one cannot work (naming each
    option where its value came from: `origins`)."""
    stores = stores_from_options(options)
    verifier = launch_token_verifier(options, stores.replay, origins=origins)
    if verifier is None and stores.shared:
        log.warning("Warning: --store %s is ignored: it keeps launch-token ids and reconnect "
                    "tickets, and JWT launch tokens are not enabled", stores.description)
        stores = memory_stores()
    # With --reconnect, a page whose single-use token started a session reconnects with a
    # ticket standing for the same grant (auth/tickets.py).
    tickets: TicketStore[Launch] | None = (
        stores.tickets if verifier is not None and options.enable_reconnect else None)
    audit: AuditService | None = None
    if AuditService.wanted(options):
        try:
            audit = AuditService(options, list(command), hostname, environ)
        except AuditConfigError as exc:
            raise StartupError(ExitCode.CONFIG, str(exc)) from None
    # Metrics only exist to be scraped from the operations listener.
    metrics = (ServerMetrics(audit.writer if audit is not None else None)
               if options.ops_port.strip() else None)
    features: list[ServerPlugin] = [stores.plugin] if stores.plugin is not None else []
    if metrics is not None:
        features.append(metrics)
    # The admin routes' registry (a session hub would give it each session's sharing).
    registry = (SessionRegistry(sharing_from(directory) if directory is not None else no_sharing)
                if options.admin_credential else None)
    if registry is not None:
        features.append(registry)
    if tickets is not None:
        features.append(TicketArming(tickets, options.reconnect_time))
    if audit is not None:
        features.append(audit)
    if options.cleanup_command:
        try:
            template = CommandTemplate(options.cleanup_command)
            template.check_program(environ)
        except CommandTemplateError as exc:
            raise StartupError(ExitCode.CONFIG, str(exc)) from None
        reporters: list[HookReporter] = []
        if audit is not None:
            reporters.append(audit.record_cleanup)
        if metrics is not None:
            reporters.append(metrics.cleanup_finished)
        features.append(CleanupHooks(template, options.cleanup_timeout, environ,
                                     reporters=tuple(reporters)))
    # Under --audit-required a server that cannot record cannot serve: not ready; nor one
    # whose shared store does not answer.
    health: list[HealthCheck] = list(stores.health)
    if audit is not None and options.audit_required:
        health.append(AuditHealth(audit))
    return Plugins(grant=LaunchGrant(options, command, verifier, tickets, listener=metrics),
                   features=tuple(features), health=tuple(health), metrics=metrics,
                   registry=registry)
