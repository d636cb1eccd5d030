"""The server's Prometheus metrics (`/metrics` on the operations listener).

Rules of this module: `ServerMetrics` is one plugin, made in `plugins_from_options` and given
at construction to everything it counts: it observes every session (a `SessionObserver` per
session, like the other features), counts the connections refused before a session exists
(the `Site`'s `RefusalCounter`), the credentials the grant refuses (a `GrantListener`) and
the cleanup hook runs (a `CleanupHooks` reporter), and reads the audit writer's backlog
when scraped. Nothing else in the program touches a metric. It owns its
`CollectorRegistry` (never prometheus_client's global one), so two servers in one process
do not collide. Every label value comes from a fixed enum, never from a client, so the
number of series is bounded. The names are documented in docs/operations.md.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector

from ..audit.writer import BackgroundWriter
from ..auth.jwt import TokenFailure
from ..backend.base import target_cleanup
from ..backend.hooks import HookResult
from ..facts import SessionFacts
from ..webtty.session import Session, SessionObserver
from ..webtty.state import SessionEnd
from .audit_observer import Outcome, outcome
from .cleanup import CleanupResult, cleanup_result
from .plugin_base import PluginDefaults
from .refusals import ConnectionRefusal

# Seconds: from a quick look to a working day.
DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 4 * 3600.0,
                    12 * 3600.0, float("inf"))


class ServerMetrics(PluginDefaults):
    """Every metric of one server (a plugin; see the module's rules)."""

    def __init__(self, audit_writer: BackgroundWriter | None = None) -> None:
        # No `*_created` series beside every counter and histogram: they double the scrape
        # and no rule of ours reads them (a process-wide switch of prometheus_client).
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in 0.26.0
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        ProcessCollector(registry=registry)
        self.sessions_active = Gauge(
            "gotty_py_sessions_active", "Sessions whose command is running now",
            registry=registry)
        self.sessions = Counter(
            "gotty_py_sessions", "Sessions ended, by outcome (as in the audit event log)",
            ["outcome"], registry=registry)
        self.session_duration = Histogram(
            "gotty_py_session_duration_seconds",
            "Time from a session's command starting to the session's end",
            buckets=DURATION_BUCKETS, registry=registry)
        self.output_bytes = Counter(
            "gotty_py_output_bytes", "Terminal output bytes sent to clients (before framing)",
            registry=registry)
        self.input_bytes = Counter(
            "gotty_py_input_bytes", "Input bytes from clients written to the commands",
            registry=registry)
        self.connection_refusals = Counter(
            "gotty_py_connection_refusals",
            "Requests refused before a session existed, by reason (/ws upgrades; any "
            "route for a wrong host or another site's fetch of the page's scripts)",
            ["reason"], registry=registry)
        self.launch_token_refusals = Counter(
            "gotty_py_launch_token_refusals", "Launch tokens refused, by reason",
            ["reason"], registry=registry)
        self.reconnect_ticket_refusals = Counter(
            "gotty_py_reconnect_ticket_refusals",
            "Reconnect tickets refused (unknown, expired or already used)", registry=registry)
        self.cleanups = Counter(
            "gotty_py_cleanups", "Cleanup hook runs, by result", ["result"], registry=registry)
        # Every label value exists from the start (at 0): a rate() over a series that
        # appears only at its first event misses that event.
        for outcome_value in Outcome:
            self.sessions.labels(outcome_value.value)
        for refusal in ConnectionRefusal:
            self.connection_refusals.labels(refusal.value)
        for failure in TokenFailure:
            self.launch_token_refusals.labels(failure.value)
        for result in CleanupResult:
            self.cleanups.labels(result.value)
        if audit_writer is not None:
            writer = audit_writer
            Gauge("gotty_py_audit_backlog_bytes",
                  "Recording and event-log bytes queued for the audit writer, not yet written",
                  registry=registry).set_function(lambda: writer.pending)
            Gauge("gotty_py_audit_backlog_jobs",
                  "Audit writer jobs (output chunks, event-log lines) queued, not yet run",
                  registry=registry).set_function(lambda: writer.queued_jobs)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The scrape's body and content type (OpenMetrics when the scraper asks for it)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    # --- ServerPlugin --------------------------------------------------------------------

    def observe(self) -> SessionObserver:
        return _SessionMetrics(self)

    # --- told by the site, the grant and the cleanup hooks -------------------------------

    def refused(self, reason: ConnectionRefusal) -> None:
        """RefusalCounter: a connection refused before its session existed."""
        self.connection_refusals.labels(reason.value).inc()

    def token_refused(self, failure: TokenFailure) -> None:
        """GrantListener: a launch token refused."""
        self.launch_token_refusals.labels(failure.value).inc()

    def ticket_refused(self) -> None:
        """GrantListener: a reconnect ticket refused."""
        self.reconnect_ticket_refusals.inc()

    def cleanup_finished(self, facts: SessionFacts, result: HookResult) -> None:
        """HookReporter: one cleanup hook run."""
        self.cleanups.labels(cleanup_result(result).value).inc()


class _SessionMetrics(SessionObserver):
    """One session's share of the counters; its hooks are cheap (the pumps call them)."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics
        self._started: float | None = None
        self._output = metrics.output_bytes
        self._input = metrics.input_bytes

    def on_start(self, session: Session) -> None:
        self._started = time.monotonic()
        self._metrics.sessions_active.inc()

    def on_output(self, data: bytes) -> None:
        self._output.inc(len(data))

    def on_input(self, data: bytes) -> None:
        self._input.inc(len(data))

    async def on_end(self, session: Session, end: SessionEnd) -> None:
        metrics = self._metrics
        metrics.sessions.labels(outcome(end).value).inc()
        target = target_cleanup(session.slave)  # a backend's own cleanup (kubernetes)
        if target is not None and session.facts is not None:
            metrics.cleanup_finished(session.facts, target)
        if self._started is not None:
            metrics.sessions_active.dec()
            metrics.session_duration.observe(time.monotonic() - self._started)
