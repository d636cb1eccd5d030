"""The gotty-py server: routes under the base path, listening, `--timeout` and shutdown.

Rules of this module: it owns what spans sessions (the listening socket, the `--timeout`
clock, signals, shutdown) and assembles the server's fixed parts once: the backend it is
given, the plugins, the session factory, admission and the `Site` every route gets. It
does not parse frames (`webtty`), touch PTYs (`backend`) or decide a session (`grant`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

import tornado.netutil
import tornado.web
from tornado.httpserver import HTTPServer

from ..backend.base import Backend, CommandUnusable
from ..backend.reaper import become_subreaper, get_reaper
from ..options import NO_ORIGINS, Options, Origins
from ..webtty.sharing import SessionDirectory
from . import handlers
from .accept import ListeningServer
from .admin import Admin, admin_routes
from .admin_access import AdminAccess
from .admission import Admission
from .auth_proxy import auth_proxy
from .delivery import Liveness
from .handshakes import HandshakeLimiter
from .health import HealthCheck
from .hosts import allowed_hosts
from .interfaces import host_addresses, is_wildcard
from .joins import Joins
from .limits import MAX_HEADER_SIZE, MAX_MESSAGE_SIZE, MAX_REQUEST_BODY
from .listen import Listener, ListenKind, listener_from_options, socket_url
from .metrics import ServerMetrics
from .ops import OperationsListener, Readiness, ops_port
from .plugins import plugins_from_options
from .proxies import trusted_proxies
from .refusals import NOT_COUNTED
from .sessions import SessionFactory, session_settings, sharing_settings
from .site import Site
from .startup import (
    ExitCode,
    StartupError,
    check_options,
    config_js,
    index_template,
    normalize_base_path,
    random_path,
    ssl_context,
    title_template,
)
from .template import Template
from .titles import Titles
from .websocket import TermSocketHandler

log = logging.getLogger("gotty_py.server")


class GottyServer:
    """Everything one running gotty-py shares between its connections."""

    def __init__(self, options: Options, command: Sequence[str], backend: Backend,
                 environ: Mapping[str, str] | None = None,
                 listener: Listener | None = None, *,
                 origins: Origins = NO_ORIGINS) -> None:
        if not command:
            raise StartupError(ExitCode.NO_COMMAND, "No command given.")
        self.options = options
        self.command = list(command)
        environ = dict(os.environ if environ is None else environ)
        hostname = socket.gethostname()
        check_options(options)
        # Given by the composition root, which takes activated sockets (and LISTEN_*) before
        # the backend copies the environment; made here when not given (in-process tests).
        self.listener = listener or listener_from_options(options, os.environ)
        try:
            backend.check_command(self.command)
        except CommandUnusable as exc:
            raise StartupError(ExitCode.CONFIG, str(exc)) from None
        _check_drain(options, backend)
        titles = Titles(title_template(options), {
            "command": self.command[0], "argv": self.command[1:], "hostname": hostname})
        proxies = trusted_proxies(options.trusted_proxies)
        # The sessions that may be resumed or joined, and their tickets (webtty/sharing.py).
        self.directory = SessionDirectory()
        self.plugins = plugins_from_options(options, self.command, environ, hostname,
                                            origins=origins, directory=self.directory)
        self.verifier = self.plugins.grant.verifier
        self.admission = Admission(once=options.once, max_connection=options.max_connection,
                                   listener=self)
        sharing = sharing_settings(options)
        self.site = Site(
            base_path=(random_path(options.random_url_length) if options.enable_random_url
                       else normalize_base_path(options.path)),
            basic_auth=bool(options.credential) or options.enable_basic_auth,
            credential=options.credential,
            ws_origin=options.ws_origin or None,
            config_js=config_js(options),
            init_timeout=options.init_timeout,
            index_page=_index_page(index_template(options), titles),
            admission=self.admission,
            sessions=SessionFactory(session_settings(options, titles, hostname), backend,
                                    self.plugins, sharing, self.directory),
            joins=(Joins(self.directory, options.credential, self.verifier,
                         options.max_observers) if sharing.enabled else None),
            hosts=allowed_hosts(self.listener.host_address or options.address,
                                options.allowed_hosts, hostname),
            proxies=proxies,
            auth_proxy=auth_proxy(options.auth_proxy_header, proxies),
            refusals=self.plugins.metrics or NOT_COUNTED,
            liveness=Liveness(ping_interval=options.ws_ping_interval,
                              # 0: as long as the interval (Tornado's rule, kept)
                              ping_timeout=options.ws_ping_timeout or options.ws_ping_interval,
                              send_timeout=options.ws_send_timeout),
            init_message_limit=options.init_message_limit,
            handshakes=HandshakeLimiter(concurrency=options.handshake_concurrency,
                                        rate=options.handshake_rate),
        )
        registry = self.plugins.registry
        self.admin = (Admin(AdminAccess(options.admin_credential), registry)
                      if registry is not None else None)
        self.ops = _operations_listener(options, self.plugins.metrics, self.plugins.health,
                                        self.admission)
        self.ops_url = ""
        self.ssl_context = ssl_context(options) if options.enable_tls else None
        self.http_server: HTTPServer | None = None
        self.urls: list[str] = []
        # Listening on a wildcard address: the start-up line saying so (set by start()).
        self.exposure: str | None = None
        self._stopping = False
        self._graceful = False
        self._finished: asyncio.Future[int] | None = None
        self._timeout_handle: asyncio.TimerHandle | None = None
        self._stopper: asyncio.Future[None] | None = None

    def build_application(self) -> tornado.web.Application:
        base_path = self.site.base_path
        base = re.escape(base_path)
        site = {"site": self.site}
        static = str(resources.files("gotty_py").joinpath("static"))
        routes: list[Any] = [
            (rf"{base}ws", TermSocketHandler, site),
            (rf"{base}auth_token\.js", handlers.AuthTokenHandler, site),
            (rf"{base}config\.js", handlers.ConfigHandler, site),
            (rf"{base}((?:js|css)/.+|favicon\.png|favicon\.ico|icon\.svg|icon_192\.png)",
             handlers.StaticHandler, {"path": static, **site}),
            (rf"{base}.*", handlers.IndexHandler, site),
        ]
        if self.admin is not None:  # before the catch-all index
            routes[-1:-1] = admin_routes(base, self.site, self.admin)
        if base_path != "/":
            routes.insert(0, (re.escape(base_path.rstrip("/")),
                              handlers.RedirectToBaseHandler, site))
        return tornado.web.Application(
            routes,
            default_handler_class=handlers.NotFoundHandler,
            default_handler_args=site,
            compress_response=True,
            websocket_max_message_size=MAX_MESSAGE_SIZE,
            # No Tornado pings: a ping queued behind output a slow client is still reading
            # would time out; the connection's DeliveryWatch pings (server/delivery.py).
            log_function=self._log_request,
        )

    @staticmethod
    def _log_request(handler: tornado.web.RequestHandler) -> None:
        # Never log query strings: launch tokens travel in them.
        request = handler.request
        log.debug("%s %s %s %s", request.remote_ip, request.method, request.path,
                  handler.get_status())

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> list[str]:
        """Listen and return the URLs to print; raises StartupError(8) when it cannot."""
        self._finished = asyncio.get_running_loop().create_future()
        if not become_subreaper():
            log.warning("Cannot become a child subreaper: processes a session orphans are "
                        "found by their session marker only")
        get_reaper()
        application = self.build_application()
        scheme = "https" if self.ssl_context else "http"
        if self.listener.kind is ListenKind.TCP:
            sockets = self._bind_tcp(scheme)
        else:
            sockets = self.listener.bind()
            self.urls = [socket_url(sock, scheme, self.site.base_path) for sock in sockets]
        # No route takes a body; the routes answer 413 before reading one (handlers.py),
        # and this is the backstop. The read buffer must hold the largest message and the
        # one read-chunk beyond it that a stream may already hold.
        self.http_server = ListeningServer(application, ssl_options=self.ssl_context,
                                           xheaders=False, max_header_size=MAX_HEADER_SIZE,
                                           max_body_size=MAX_REQUEST_BODY,
                                           max_buffer_size=MAX_MESSAGE_SIZE + 1024 * 1024)
        self.http_server.add_sockets(sockets)
        if self.ops is not None:
            self.ops_url = self.ops.start()
        for feature in self.plugins.features:
            feature.start()
        self._arm_timeout()
        return self.urls

    def _bind_tcp(self, scheme: str) -> list[socket.socket]:
        """The sockets of `--address` and `--port`, and their URLs in `self.urls`."""
        try:
            port = int(self.options.port)
        except ValueError:
            raise StartupError(ExitCode.CONFIG,
                               f"invalid port {self.options.port!r}: expected a number") from None
        address = self.options.address
        try:
            sockets = tornado.netutil.bind_sockets(port, address or None)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise StartupError(ExitCode.RUNTIME,
                               f"failed to listen at {address}:{port}: {reason}") from None
        for sock in sockets:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bound_port = sockets[0].getsockname()[1]
        families = {sock.family for sock in sockets}
        if is_wildcard(address):
            self.exposure = _exposure(address, families)
            # Tornado binds :: with IPV6_V6ONLY: only 127.0.0.1 where IPv4 is served.
            hosts = ["127.0.0.1" if socket.AF_INET in families else "[::1]",
                     *host_addresses(families)]
        else:
            hosts = [f"[{address}]" if ":" in address else address]
        self.urls = [f"{scheme}://{host}:{bound_port}{self.site.base_path}" for host in hosts]
        return sockets

    async def wait(self) -> int:
        """Wait until the server is done (--once, --timeout, or a signal); the exit code."""
        assert self._finished is not None
        try:
            return await self._finished
        finally:
            # The probes and the scrape answer until the very end (readiness says 503
            # while draining); only then does the operations listener close.
            if self.ops is not None:
                self.ops.stop()

    def handle_signal(self, signum: int) -> None:
        """SIGINT first: stop accepting and let sessions end. Again, or SIGTERM: end them."""
        if signum == signal.SIGINT and not self._graceful and not self._stopping:
            self._graceful = True
            log.info("Received interrupt, waiting for sessions to end (C-C to force close)")
            self.admission.close()
            self._stop_listening()
            self._finish_if_idle()
            return
        log.info("Shutting down: ending %d session(s)%s", len(self.admission),
                 f" within {self.options.drain_timeout} s (--drain-timeout)"
                 if self.options.drain_timeout else "")
        self.stop(ExitCode.OK)

    def stop(self, code: int) -> None:
        """End every session (close signal, then SIGKILL) and finish once all are reaped."""
        if self._stopping:
            return
        self._stopping = True
        self.admission.close()
        self._stop_listening()
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        self._stopper = asyncio.ensure_future(self._stop_sessions(code))

    async def _stop_sessions(self, code: int) -> None:
        """The drain: every session is told (1001) and ends with its cleanup and audit.

        Within `--drain-timeout` (0: no limit) everything ends in order. Past it, what is
        still running is cut short rather than waited for, so the process exits before
        Kubernetes' grace period ends and SIGKILL loses the audit trail: sessions are
        already bounded by the close timeout, cleanup hooks are killed (and recorded as
        such), and the audit trail still writes every queued line."""
        limit = self.options.drain_timeout
        deadline = asyncio.get_running_loop().time() + limit if limit else None
        pending = []
        for slot in self.admission.slots():
            if slot.session is not None:
                slot.session.shutdown()
                pending.append(slot.session.wait())
            else:
                slot.hang_up()
        if pending:
            ended = asyncio.ensure_future(asyncio.gather(*pending, return_exceptions=True))
            if not await _done_by(deadline, ended):
                log.error("Drain timeout (%d s) passed with sessions still ending; waiting "
                          "for their processes to be killed", limit)
                await ended
        # Every session has ended: the cleanup hooks still running finish, then the audit
        # trail writes, fsyncs and closes its last lines before the process exits.
        for feature in reversed(self.plugins.features):
            closing = asyncio.ensure_future(feature.aclose())
            if not await _done_by(deadline, closing):
                log.error("Drain timeout (%d s) passed: cutting short %s", limit,
                          type(feature).__name__)
                feature.interrupt()
                await closing
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(code)

    def _stop_listening(self) -> None:
        if self.http_server is not None:
            self.http_server.stop()
        self.listener.close()

    def _finish_if_idle(self) -> None:
        if self._graceful and not len(self.admission):
            self.stop(ExitCode.OK)

    def _arm_timeout(self) -> None:
        if self.options.timeout > 0 and not self._stopping:
            loop = asyncio.get_running_loop()
            self._timeout_handle = loop.call_later(self.options.timeout, self._on_timeout)

    def _on_timeout(self) -> None:
        log.info("Timeout: no client connected for %d seconds", self.options.timeout)
        self.stop(ExitCode.OK)

    # --- told by admission (AdmissionListener) --------------------------------------------

    def busy(self) -> None:
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
            self._timeout_handle = None

    def idle(self) -> None:
        if self.options.exit_no_conn and self.admission.served and not self._stopping:
            log.info("The last client has left; exiting (--exit-no-conn)")
            self.stop(ExitCode.OK)
            return
        self._arm_timeout()
        self._finish_if_idle()

    def once_done(self) -> None:
        log.info("The --once session ended; exiting")
        self.stop(ExitCode.OK)


async def _done_by(deadline: float | None, task: asyncio.Future[Any]) -> bool:
    """Wait for `task` until the loop time `deadline` (None: forever); never cancels it."""
    remaining = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop()
                                                  .time())
    done, _ = await asyncio.wait([task], timeout=remaining)
    return bool(done)


def _check_drain(options: Options, backend: Backend) -> None:
    """A drain must outlast a session's end, or SIGTERM would cut short every session's
    end; a drain shorter than an end plus its cleanup may kill cleanups (a warning)."""
    limit = options.drain_timeout
    if not limit:
        return
    if limit <= backend.close_time:
        raise StartupError(ExitCode.CONFIG, (
            f"drain_timeout (--drain-timeout) is {limit} s, but ending a session may take "
            f"{backend.close_time:g} s (close_timeout, then the kill): make it longer, or 0 "
            "for no limit"))
    if options.cleanup_command and limit < backend.close_time + options.cleanup_timeout:
        log.warning("Warning: drain_timeout (%d s) is shorter than a session's end (%g s) plus "
                    "cleanup_timeout (%d s): at shutdown a slow cleanup hook is killed",
                    limit, backend.close_time, options.cleanup_timeout)


def _operations_listener(options: Options, metrics: ServerMetrics | None,
                         health: Sequence[HealthCheck],
                         admission: Admission) -> OperationsListener | None:
    """The /healthz, /readyz, /metrics listener the options ask for (`--ops-port`)."""
    port = ops_port(options.ops_port)
    if port is None or metrics is None:
        return None
    return OperationsListener(options.ops_address, port,
                              Readiness(lambda: admission.closed, health), metrics)


def _index_page(template: Template, titles: Titles) -> Callable[[str], str]:
    """The index page for a client: the custom or built-in template with the page title."""
    def render(remote_addr: str) -> str:
        return template.render({"title": titles.page(remote_addr)})
    return render


def _exposure(address: str, families: set[socket.AddressFamily]) -> str:
    """The start-up line for a wildcard address: whoever reaches any address of the host
    reaches the terminal, which the loopback URL printed first does not show."""
    kinds = " and ".join(name for family, name in ((socket.AF_INET, "IPv4"),
                                                    (socket.AF_INET6, "IPv6"))
                         if family in families)
    return (f"Listening on all {kinds} interfaces (address {address or '(empty)'}): anyone "
            "who can reach this host at any of its addresses can connect; --address "
            "127.0.0.1 serves this machine only")
