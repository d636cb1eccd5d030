"""The operations listener: `/healthz`, `/readyz` and `/metrics` on an address of their own.

Rules of this module: it is a second Tornado HTTP server on `--ops-address:--ops-port`,
separate from the site, so that Basic auth, `--path`, TLS and the public Ingress never
touch the probes and the scrape (docs/operations.md says why), and none of the site's
routes is served here. It answers from what it was given at construction: whether
admission is closed (draining), the readiness checks (`Plugins.health`) and the metrics.
It logs nothing per request (a kubelet probes every few seconds). Binding failures get the
main listener's exit codes.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any

import tornado.netutil
import tornado.web
from tornado.httpserver import HTTPServer

from ..options import OptionValueError, parse_port_or_empty
from .accept import ListeningServer
from .health import HealthCheck
from .limits import MAX_HEADER_SIZE, MAX_REQUEST_BODY
from .metrics import ServerMetrics
from .startup import ExitCode, StartupError

log = logging.getLogger("gotty_py.server")

# A kubelet's probe times out after 1 s by default: every check answers within this, or
# counts as failing.
CHECK_DEADLINE = 0.8
DRAINING = "draining: the server is shutting down and admits no new sessions"


class Readiness:
    """Whether the server can take new sessions now, and if not, why."""

    def __init__(self, draining: Callable[[], bool], checks: Sequence[HealthCheck],
                 deadline: float = CHECK_DEADLINE) -> None:
        self._draining = draining
        self._checks = tuple(checks)
        self._deadline = deadline

    async def problems(self) -> list[str]:
        """`name: reason` for each part that cannot serve; empty when ready. The checks run
        concurrently, each within the deadline."""
        found = [DRAINING] if self._draining() else []
        answers = await asyncio.gather(*(self._ask(check) for check in self._checks))
        found.extend(answer for answer in answers if answer is not None)
        return found

    async def _ask(self, check: HealthCheck) -> str | None:
        try:
            problem = await asyncio.wait_for(check.problem(), self._deadline)
        except TimeoutError:
            problem = f"no answer within {self._deadline:g} s"
        except Exception as exc:  # a check that breaks says "not ready", never "ready"
            log.exception("readiness check %s failed", check.name)
            problem = f"check failed: {type(exc).__name__}: {exc}"
        return f"{check.name}: {problem}" if problem is not None else None


class _OpsHandler(tornado.web.RequestHandler):
    def set_default_headers(self) -> None:
        self.clear_header("Server")  # no version for anyone who reaches the port
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Type", "text/plain; charset=utf-8")

    def compute_etag(self) -> str | None:
        return None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish(f"{status_code} {self._reason}\n")


class HealthzHandler(_OpsHandler):
    """Alive: answering at all means the process and its event loop serve."""

    def get(self) -> None:
        self.finish("ok\n")

    head = get


class ReadyzHandler(_OpsHandler):
    """200 `ready`, or 503 with one `name: reason` line per problem."""

    def initialize(self, readiness: Readiness) -> None:
        self.readiness = readiness

    async def get(self) -> None:
        problems = await self.readiness.problems()
        if problems:
            self.set_status(503)
            self.finish("".join(f"{line}\n" for line in problems))
        else:
            self.finish("ready\n")

    head = get


class MetricsHandler(_OpsHandler):
    def initialize(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def get(self) -> None:
        body, content_type = self.metrics.exposition(self.request.headers.get("Accept"))
        self.set_header("Content-Type", content_type)
        self.finish(body)


class NotFoundHandler(_OpsHandler):
    def prepare(self) -> None:
        self.set_status(404)
        self.finish("404 page not found\n")


def ops_port(text: str) -> int | None:
    """`--ops-port`: None for no listener; a bad value is a configuration error."""
    try:
        port = parse_port_or_empty(text)
    except OptionValueError as exc:
        raise StartupError(ExitCode.CONFIG, f"invalid ops_port (--ops-port): {exc}") from None
    return int(port) if port else None


class OperationsListener:
    """One per server when `--ops-port` is set."""

    def __init__(self, address: str, port: int, readiness: Readiness,
                 metrics: ServerMetrics) -> None:
        self.address = address
        self.port = port
        self.readiness = readiness
        self.metrics = metrics
        self.url = ""
        self._server: HTTPServer | None = None

    def application(self) -> tornado.web.Application:
        return tornado.web.Application(
            [
                (r"/healthz", HealthzHandler),
                (r"/readyz", ReadyzHandler, {"readiness": self.readiness}),
                (r"/metrics", MetricsHandler, {"metrics": self.metrics}),
            ],
            default_handler_class=NotFoundHandler,
            compress_response=True,
            log_function=_log_request,
        )

    def start(self) -> str:
        """Listen; the URL to log. StartupError(8) when the address cannot be bound."""
        try:
            sockets = tornado.netutil.bind_sockets(self.port, self.address or None)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else (
                exc.strerror or str(exc))
            raise StartupError(ExitCode.RUNTIME, f"failed to listen for operations at "
                               f"{self.address}:{self.port}: {reason}") from None
        for sock in sockets:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The same accept loop as the site's (no spinning while out of descriptors), and
        # its limits: the probes and the scrape send no body.
        self._server = ListeningServer(self.application(), xheaders=False,
                                       max_header_size=MAX_HEADER_SIZE,
                                       max_body_size=MAX_REQUEST_BODY)
        self._server.add_sockets(sockets)
        host = self.address if self.address not in ("", "0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        self.url = f"http://{host}:{sockets[0].getsockname()[1]}/"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def _log_request(handler: tornado.web.RequestHandler) -> None:
    request = handler.request
    log.debug("ops %s %s %s %s", request.remote_ip, request.method, request.path,
              handler.get_status())
