"""The site routes: index page, auth_token.js, config.js, static assets, 404 and redirect.

Rules of this module: every site handler derives from `SiteHandler`, which applies Basic
auth and the security headers once, for every route, including unknown paths. No route
takes a request body: every handler (and `/ws`) streams its body (`NoRequestBody`), so that
one declared over `MAX_REQUEST_BODY` or of unknown length gets 413 and the connection is
closed before anything of it is read or buffered, ahead of Basic auth; a small one is read
and dropped. What the routes serve comes from the `Site` the application was built with.
"""

from __future__ import annotations

import http
import logging
from typing import Any

import tornado.httputil
import tornado.web
from tornado.http1connection import HTTP1Connection

from ..auth.basic import REALM, BasicAuthResult, check_basic_auth
from .auth_proxy import AuthProxyRefused
from .fetch_metadata import script_refused
from .limits import MAX_REQUEST_BODY
from .refusals import ConnectionRefusal
from .site import Site
from .template import js_string

log = logging.getLogger("gotty_py.server")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; object-src 'none'"
)

# Aliases so that custom index pages written for either GoTTY keep loading our bundle.
STATIC_ALIASES = {"js/gotty.js": "js/gotty-bundle.js"}


def apply_security_headers(handler: tornado.web.RequestHandler) -> None:
    """GoTTY's `Server: GoTTY` (no version) plus a strict CSP and no referrer leakage."""
    handler.set_header("Server", "GoTTY")
    handler.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    handler.set_header("Referrer-Policy", "no-referrer")
    handler.set_header("X-Content-Type-Options", "nosniff")
    # No other site's page may embed a response as a script, image or style: the
    # credential in auth_token.js above all (fetch_metadata.py refuses what it can).
    handler.set_header("Cross-Origin-Resource-Policy", "same-origin")


HOST_REFUSED = "Forbidden: this server does not answer for the host in the request"
FETCH_SITE_REFUSED = "Forbidden: this resource is not served to another site's page"


def refuse(handler: tornado.web.RequestHandler, site: Site, reason: ConnectionRefusal,
           text: str, detail: str) -> None:
    """Answer 403 with `text`; one log line with `detail` (never a credential), counted."""
    client = site.client_address(handler.request)
    log.info("Refused %s %s from %s: %s", handler.request.method, handler.request.path,
             client, detail, extra={"client": client})
    site.refusals.refused(reason)
    handler.set_status(403)
    handler.set_header("Content-Type", "text/plain; charset=utf-8")
    handler.finish(text + "\n")


def host_refused_detail(host: str | None) -> str:
    """The log line's words for a refused Host (escaped and cut: it is the client's)."""
    return f"Host {(host or '')[:100]!a} is not served (DNS rebinding?); see --allowed-hosts"


def require_served_host(handler: tornado.web.RequestHandler, site: Site) -> bool:
    """Refuse (403) and return False when the Host header names a host not served here."""
    host = handler.request.headers.get("Host")
    if site.hosts.allows(host):
        return True
    refuse(handler, site, ConnectionRefusal.HOST, HOST_REFUSED, host_refused_detail(host))
    return False


def require_basic_auth(handler: tornado.web.RequestHandler, site: Site) -> bool:
    """Answer 401 and return False when Basic auth is on and the request fails it."""
    if not site.basic_auth:
        return True
    result = check_basic_auth(handler.request.headers.get("Authorization"), site.credential)
    client = site.client_host(handler.request)
    if result is BasicAuthResult.OK:
        log.debug("Basic Authentication Succeeded: %s", client, extra={"client": client})
        return True
    handler.set_status(401)
    handler.set_header("WWW-Authenticate", f'Basic realm="{REALM}"')
    handler.set_header("Content-Type", "text/plain; charset=utf-8")
    body = "authorization failed" if result is BasicAuthResult.WRONG else "Bad Request"
    log.info("Basic Authentication failed (%s): %s", result.value, client,
             extra={"client": client})
    handler.finish(body + "\n")
    return False


def request_summary(request: tornado.httputil.HTTPServerRequest) -> str:
    """How error logs name a request: method, path and peer, never the query string
    (launch tokens travel in it) nor the headers (credentials do)."""
    return f"{request.method} {request.path} ({request.remote_ip})"


def refuse_request_body(handler: tornado.web.RequestHandler) -> bool:
    """Answer 413 and close the connection when the request declares a body over
    `MAX_REQUEST_BODY`, or one of unknown length (chunked); True when it did.

    Called from `prepare`, which a streaming handler runs before any of the body is read;
    closing the connection keeps Tornado from reading (and dropping) the rest."""
    headers = handler.request.headers
    length = headers.get("Content-Length", "0").strip()
    if "Transfer-Encoding" not in headers and length.isdigit() and int(length) <= MAX_REQUEST_BODY:
        return False
    status = 413 if length.isdigit() or "Transfer-Encoding" in headers else 400
    log.debug("%d for a request body of %s bytes: %s", status, length or "unknown",
              request_summary(handler.request))
    handler.set_status(status)
    handler.set_header("Content-Type", "text/plain; charset=utf-8")
    handler.set_header("Connection", "close")
    handler.finish(f"{status} {http.HTTPStatus(status).phrase}\n")
    connection = handler.request.connection
    if isinstance(connection, HTTP1Connection):
        connection.close()
    return True


class NoRequestBody:
    """Mixed into every handler with `@stream_request_body`: a body small enough to be
    let through is read and dropped, never buffered."""

    def data_received(self, chunk: bytes) -> None:
        pass


class TokenSafeLogging:
    """Mixed into every handler: Tornado's own logs print the whole request (URI, so the
    launch token, and headers, so credentials); these print method, path and peer."""

    request: tornado.httputil.HTTPServerRequest

    def _request_summary(self) -> str:
        return request_summary(self.request)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError):
            if value.log_message:
                log.warning("%d %s: %s", value.status_code, request_summary(self.request),
                            value.log_message % value.args)
            return
        log.error("Uncaught exception %s", request_summary(self.request),
                  exc_info=(typ, value, tb))


class SiteRoute(NoRequestBody, TokenSafeLogging):
    """Mixed into every non-WebSocket route: the security headers, then the body limit, the
    Host check, the authenticating proxy's header, the fetch-metadata check for the page's
    scripts, and Basic auth, in that order."""

    site: Site

    def set_default_headers(self) -> None:
        apply_security_headers(self)  # type: ignore[arg-type]

    def is_page_script(self) -> bool:
        """Whether this response is one of the page's scripts (fetch_metadata.py)."""
        return False

    def prepare(self) -> None:
        handler: tornado.web.RequestHandler = self  # type: ignore[assignment]
        if refuse_request_body(handler):
            return
        if not require_served_host(handler, self.site):
            return
        proxied = self.site.proxy_user(self.request)
        if isinstance(proxied, AuthProxyRefused):
            refuse(handler, self.site, proxied.reason, proxied.text, proxied.detail)
            return
        if self.is_page_script():
            refused = script_refused(self.request.headers.get("Sec-Fetch-Site"),
                                     other_origins_allowed=self.site.ws_origin is not None)
            if refused is not None:
                refuse(handler, self.site, ConnectionRefusal.FETCH_SITE, FETCH_SITE_REFUSED,
                       f"Sec-Fetch-Site: {refused} for one of the page's scripts")
                return
        require_basic_auth(handler, self.site)


@tornado.web.stream_request_body
class SiteHandler(SiteRoute, tornado.web.RequestHandler):
    """Base of the site routes that are not static files."""

    def initialize(self, site: Site) -> None:
        self.site = site

    def compute_etag(self) -> str | None:
        return None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code} {self._reason}\n")


class IndexHandler(SiteHandler):
    """The base path and every unmatched path under it (GoTTY serves the index for any)."""

    def _serve(self, *_: Any) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(self.site.index_page(self.site.client_address(self.request)))

    get = post = put = patch = delete = options = _serve

    def head(self, *_: Any) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish()


class AuthTokenHandler(SiteHandler):
    """`var gotty_auth_token = '...'`; only reachable past Basic auth when a credential is set."""

    def is_page_script(self) -> bool:
        return True

    def get(self) -> None:
        self.set_header("Content-Type", "application/javascript")
        self.set_header("Cache-Control", "no-store")
        self.finish(f"var gotty_auth_token = '{js_string(self.site.credential)}';")


class ConfigHandler(SiteHandler):
    """config.js: sorenisanerd's two variables; our page reads more, old pages ignore them."""

    def is_page_script(self) -> bool:
        return True

    def get(self) -> None:
        self.set_header("Content-Type", "application/javascript")
        self.set_header("Cache-Control", "no-store")
        self.finish(self.site.config_js)


@tornado.web.stream_request_body
class StaticHandler(SiteRoute, tornado.web.StaticFileHandler):
    """Bundled assets (`js/`, `css/`, icons) with the site's auth and headers."""

    def initialize(self, path: str, default_filename: str | None = None, *,  # type: ignore[override]
                   site: Site) -> None:
        super().initialize(path, default_filename)
        self.site = site

    def is_page_script(self) -> bool:
        return bool(self.path_args) and str(self.path_args[0]).startswith("js/")

    def parse_url_path(self, url_path: str) -> str:
        # No file name holds a NUL, and the OS refuses one with a ValueError (a 500 and a
        # traceback before): an encoded %00 is simply a file that does not exist.
        if "\x00" in url_path:
            raise tornado.web.HTTPError(404, "NUL byte in a static path")
        return super().parse_url_path(STATIC_ALIASES.get(url_path, url_path))


class RedirectToBaseHandler(SiteHandler):
    """`<base>` without its slash -> 301 to `<base>/` (Go's ServeMux does the same)."""

    def get(self) -> None:
        target = self.site.base_path
        if self.request.query:
            target += "?" + self.request.query
        self.redirect(target, permanent=True)

    head = post = get


class NotFoundHandler(SiteHandler):
    """Paths outside the base path: Go's `404 page not found` (after Basic auth)."""

    def _serve(self, *_: Any) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("404 page not found\n")

    get = post = put = patch = delete = options = head = _serve
