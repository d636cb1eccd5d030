"""Accepting connections without spinning when the process is out of file descriptors.

Rules of this module: `ListeningServer` is Tornado's `HTTPServer` with one change, the accept
loop of each listening socket (`AcceptLoop`). Tornado's loop lets an `accept` that fails for
lack of descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM) escape; the socket stays readable, so
the event loop calls it again at once, forever, logging a traceback each time. Here such a
failure stops watching the socket for a back-off (0.1 s, doubling to 1 s, reset by the next
accepted connection) and is logged at most once per `LOG_INTERVAL` with the count; the
connections wait in the kernel's backlog meanwhile. Everything else Tornado does with an
accepted connection (TLS, the HTTP connection) is unchanged: the socket goes to the same
callback Tornado's own loop would call. A Unix-socket connection's address, which the
kernel leaves empty, is replaced by its peer's credentials (`listen.UnixPeer`), read once
here, so that every request on it can name its client.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream

from .listen import unix_peer

log = logging.getLogger("gotty_py.server")

OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
FIRST_BACKOFF = 0.1
MAX_BACKOFF = 1.0
LOG_INTERVAL = 10.0
ACCEPTS_PER_WAKEUP = 128  # then the loop serves others before accepting more


class AcceptLoop:
    """Accepts on one listening socket and hands each connection to `callback`."""

    def __init__(self, sock: socket.socket, callback: Callable[[socket.socket, Any], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sock = sock
        self._callback = callback
        self._clock = clock
        self._loop = IOLoop.current()
        self._backoff = FIRST_BACKOFF
        self._timer: object | None = None
        self._stopped = False
        self._failed = 0  # accepts refused for resources since the last log line
        self._logged_at: float | None = None
        self._out_since: float | None = None
        self._loop.add_handler(sock, self._ready, IOLoop.READ)

    def stop(self) -> None:
        """Stop accepting (the server is closing); the caller closes the socket."""
        if self._stopped:
            return
        self._stopped = True
        if self._timer is not None:
            self._loop.remove_timeout(self._timer)
            self._timer = None
        else:
            self._loop.remove_handler(self._sock)

    def _ready(self, fd: Any, events: int) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            if self._stopped:
                return
            try:
                connection, address = self._sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self._pause(exc)
                return
            self._recovered()
            self._callback(connection, address)

    def _pause(self, exc: OSError) -> None:
        """Out of descriptors (or another accept error): wait before trying again."""
        now = self._clock()
        self._failed += 1
        if self._out_since is None:
            self._out_since = now
        if self._logged_at is None or now - self._logged_at >= LOG_INTERVAL:
            what = ("out of file descriptors" if exc.errno in (errno.EMFILE, errno.ENFILE)
                    else "cannot accept connections")
            log.error("%s (%s): %d connection(s) not accepted in the last %g s; pausing "
                      "accepts up to %g s at a time", what, exc.strerror or exc, self._failed,
                      LOG_INTERVAL if self._logged_at is not None else 0, MAX_BACKOFF)
            self._logged_at, self._failed = now, 0
        self._loop.remove_handler(self._sock)
        self._timer = self._loop.call_later(self._backoff, self._resume)
        self._backoff = min(MAX_BACKOFF, self._backoff * 2)

    def _resume(self) -> None:
        self._timer = None
        if not self._stopped:
            self._loop.add_handler(self._sock, self._ready, IOLoop.READ)

    def _recovered(self) -> None:
        if self._out_since is None:
            return
        log.warning("Accepting connections again after %.1f s (%d more not accepted)",
                    self._clock() - self._out_since, self._failed)
        self._out_since = self._logged_at = None
        self._failed = 0
        self._backoff = FIRST_BACKOFF


class ListeningServer(HTTPServer):
    """Tornado's HTTP server with `AcceptLoop` as the accept loop of its sockets."""

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        for sock in sockets:
            loop = AcceptLoop(sock, self._handle_connection)
            self._sockets[sock.fileno()] = sock
            self._handlers[sock.fileno()] = loop.stop

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        sock = stream.socket
        if sock is not None and sock.family == socket.AF_UNIX:
            address = unix_peer(sock)
        super().handle_stream(stream, address)
