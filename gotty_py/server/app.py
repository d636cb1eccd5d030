"""The gotty-py server: routes under the base path, admission limits and the lifecycle.

Rules of this module: it owns what spans sessions (the listening socket, the connection
count, `--once`, `--timeout`, shutdown) and builds each session from its parts (the
authorizer, the local-command factory, the title). It does not parse frames (`webtty`)
nor touch PTYs (`backend`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import tornado.httputil
import tornado.netutil
import tornado.web
from tornado.httpserver import HTTPServer

from ..backend.base import Backend
from ..backend.reaper import become_subreaper, get_reaper
from ..options import Options
from ..webtty.session import Refused, Session, SessionObserver
from ..webtty.state import SessionEnd
from . import handlers
from .grant import ClientInfo
from .plugins import plugins_from_options
from .sessions import SessionFactory, SessionTitle, session_settings
from .startup import (
    ExitCode,
    StartupError,
    check_options,
    config_js,
    index_template,
    launch_token_verifier,
    normalize_base_path,
    random_path,
    ssl_context,
    title_template,
)
from .template import title_variables
from .websocket import TermSocketHandler, WebSocketMaster

log = logging.getLogger("gotty_py.server")

MAX_MESSAGE_SIZE = 64 * 1024 * 1024  # one input message (a paste) may be this large


@dataclass
class _Connection:
    handler: TermSocketHandler
    session: Session | None = None
    once_holder: bool = False


class _ConnectionObserver(SessionObserver):
    def __init__(self, server: GottyServer, handler: TermSocketHandler,
                 claim_once: Callable[[], None]) -> None:
        self._server = server
        self._handler = handler
        self._claim_once = claim_once

    async def before_spawn(self, session: Session) -> None:
        self._claim_once()

    def on_start(self, session: Session) -> None:
        info = session.slave_info
        log.info("Command is running for client %s with %s", self._handler.remote_addr(),
                 info.summary if info else "?")

    async def on_end(self, session: Session, end: SessionEnd) -> None:
        self._server.connection_finished(self._handler, end)


class GottyServer:
    """Everything one running gotty-py shares between its connections."""

    def __init__(self, options: Options, command: Sequence[str], backend: Backend,
                 environ: Mapping[str, str] | None = None) -> None:
        if not command:
            raise StartupError(ExitCode.NO_COMMAND, "No command given.")
        self.options = options
        self.command = list(command)
        self.environ = dict(os.environ if environ is None else environ)
        self.hostname = socket.gethostname()
        check_options(options)
        self.credential = options.credential
        self.basic_auth = bool(options.credential) or options.enable_basic_auth
        self.base_path = (random_path(options.random_url_length) if options.enable_random_url
                          else normalize_base_path(options.path))
        self.ws_origin: str | None = options.ws_origin or None
        self.title_template = title_template(options)
        self.index_template = index_template(options)
        self.config_js = config_js(options)
        self.verifier = launch_token_verifier(options)
        self.plugins = plugins_from_options(options, self.command, self.environ,
                                            self.hostname, self.verifier)
        title = SessionTitle(self.title_template, self.server_variables())
        self.sessions = SessionFactory(session_settings(options, title, self.hostname),
                                       backend, self.plugins)
        self.connections: dict[TermSocketHandler, _Connection] = {}
        self.once_claimed = False
        self.ssl_context = ssl_context(options) if options.enable_tls else None
        self.http_server: HTTPServer | None = None
        self.urls: list[str] = []
        self._stopping = False
        self._graceful = False
        self._finished: asyncio.Future[int] | None = None
        self._timeout_handle: asyncio.TimerHandle | None = None
        self._stopper: asyncio.Future[None] | None = None

    def build_application(self) -> tornado.web.Application:
        base = re.escape(self.base_path)
        ctx = {"ctx": self}
        static = str(resources.files("gotty_py").joinpath("static"))
        routes: list[Any] = [
            (rf"{base}ws", TermSocketHandler, ctx),
            (rf"{base}auth_token\.js", handlers.AuthTokenHandler, ctx),
            (rf"{base}config\.js", handlers.ConfigHandler, ctx),
            (rf"{base}((?:js|css)/.+|favicon\.png|favicon\.ico|icon\.svg|icon_192\.png)",
             handlers.StaticHandler, {"path": static, "ctx": self}),
            (rf"{base}.*", handlers.IndexHandler, ctx),
        ]
        if self.base_path != "/":
            routes.insert(0, (re.escape(self.base_path.rstrip("/")),
                              handlers.RedirectToBaseHandler, ctx))
        return tornado.web.Application(
            routes,
            default_handler_class=handlers.NotFoundHandler,
            default_handler_args=ctx,
            compress_response=True,
            websocket_max_message_size=MAX_MESSAGE_SIZE,
            websocket_ping_interval=self.options.ws_ping_interval or None,
            websocket_ping_timeout=self.options.ws_ping_timeout or None,
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
        self.http_server = HTTPServer(application, ssl_options=self.ssl_context, xheaders=False)
        self.http_server.add_sockets(sockets)
        bound_port = sockets[0].getsockname()[1]
        scheme = "https" if self.ssl_context else "http"
        host = address if address not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        self.urls = [f"{scheme}://{host}:{bound_port}{self.base_path}"]
        if address in ("", "0.0.0.0", "::"):
            for ip in _interface_addresses():
                self.urls.append(f"{scheme}://{ip}:{bound_port}{self.base_path}")
        for feature in self.plugins.features:
            feature.start()
        self._arm_timeout()
        return self.urls

    async def wait(self) -> int:
        """Wait until the server is done (--once, --timeout, or a signal); the exit code."""
        assert self._finished is not None
        return await self._finished

    def handle_signal(self, signum: int) -> None:
        """SIGINT first: stop accepting and let sessions end. Again, or SIGTERM: end them."""
        import signal as _signal

        if signum == _signal.SIGINT and not self._graceful and not self._stopping:
            self._graceful = True
            log.info("Received interrupt, waiting for sessions to end (C-C to force close)")
            self._stop_listening()
            self._finish_if_idle()
            return
        log.info("Shutting down: ending %d session(s)", len(self.connections))
        self.stop(ExitCode.OK)

    def stop(self, code: int) -> None:
        """End every session (close signal, then SIGKILL) and finish once all are reaped."""
        if self._stopping:
            return
        self._stopping = True
        self._stop_listening()
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        self._stopper = asyncio.ensure_future(self._stop_sessions(code))

    async def _stop_sessions(self, code: int) -> None:
        pending = []
        for connection in list(self.connections.values()):
            if connection.session is not None:
                connection.session.shutdown()
                pending.append(connection.session.wait())
            else:
                connection.handler.close(1001, "server shutting down")
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        # Every session has ended: the cleanup hooks still running finish, then the audit
        # trail writes, fsyncs and closes its last lines before the process exits.
        for feature in reversed(self.plugins.features):
            await feature.aclose()
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(code)

    def _stop_listening(self) -> None:
        if self.http_server is not None:
            self.http_server.stop()

    def _finish_if_idle(self) -> None:
        if self._graceful and not self.connections:
            self.stop(ExitCode.OK)

    def _arm_timeout(self) -> None:
        if self.options.timeout > 0 and not self._stopping:
            loop = asyncio.get_running_loop()
            self._timeout_handle = loop.call_later(self.options.timeout, self._on_timeout)

    def _on_timeout(self) -> None:
        log.info("Timeout: no client connected for %d seconds", self.options.timeout)
        self.stop(ExitCode.OK)

    # --- admission and accounting (called by the WebSocket handler) -----------------------

    def admission_refusal(self) -> str | None:
        if self._stopping or self._graceful:
            return "Server is shutting down"
        if self.options.once and self.once_claimed:
            return "Server is shutting down"
        limit = self.options.max_connection
        if limit and len(self.connections) >= limit:
            return f"Too many connections (at most {limit})"
        return None

    def connection_opened(self, handler: TermSocketHandler) -> None:
        self.connections[handler] = _Connection(handler)
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
            self._timeout_handle = None

    def track_session(self, handler: TermSocketHandler, session: Session) -> None:
        self.connections[handler].session = session

    def connection_finished(self, handler: TermSocketHandler, end: SessionEnd | None) -> None:
        connection = self.connections.pop(handler, None)
        if connection is None:
            return
        reason = f"{end.cause}: {end.detail}" if end else "failed upgrade"
        log.info("Connection closed by %s: %s, connections: %d/%d", reason,
                 handler.remote_addr(), len(self.connections), self.options.max_connection)
        if connection.once_holder:
            log.info("The --once session ended; exiting")
            self.stop(ExitCode.OK)
            return
        if not self.connections:
            self._arm_timeout()
            self._finish_if_idle()

    # --- building a session --------------------------------------------------------------

    def create_session(self, handler: TermSocketHandler, master: WebSocketMaster) -> Session:
        connection = self.connections[handler]

        def claim_once() -> None:
            if not self.options.once:
                return
            if self.once_claimed:
                raise Refused("server accepts only one session (--once)")
            self.once_claimed = True
            connection.once_holder = True

        client = ClientInfo(remote_addr=handler.remote_addr(), headers=handler.request.headers)
        return self.sessions.create(master, client,
                                    _ConnectionObserver(self, handler, claim_once))

    def server_variables(self) -> dict[str, Any]:
        return {"command": self.command[0], "argv": self.command[1:], "hostname": self.hostname}

    def page_title_variables(self, request: tornado.httputil.HTTPServerRequest) -> dict[str, Any]:
        return title_variables(self.server_variables(), {"remote_addr": self.remote_addr(request)})

    def render_index(self, variables: dict[str, Any]) -> str:
        title = self.title_template.render(variables)
        return self.index_template.render({"title": title})

    @staticmethod
    def remote_addr(request: tornado.httputil.HTTPServerRequest) -> str:
        address = getattr(request.connection, "context", None)
        peer = getattr(address, "address", None)
        if isinstance(peer, tuple) and len(peer) >= 2:
            host = f"[{peer[0]}]" if ":" in str(peer[0]) else str(peer[0])
            return f"{host}:{peer[1]}"
        return str(request.remote_ip)


def _interface_addresses() -> list[str]:
    """Addresses of this host other than loopback, for GoTTY's 'Alternative URL' lines."""
    found: list[str] = []
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return found
    for info in infos:
        ip = str(info[4][0])
        if not ip.startswith("127.") and ip not in found:
            found.append(ip)
    return found
